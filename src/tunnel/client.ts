/*
 * Keeping a tunnel to another instance ([upstream NAME], or `websocksy forward`): connects with
 * `ws`, says hello with the identity and token, and on every later connection asks to resume
 * the session, so streams carry on across drops. It listens for its local forwards itself
 * (those listeners never close while it runs) and asks the far side to listen for its remote
 * forwards. A heartbeat declares a silent connection dead, and reconnects back off with jitter.
 */
import { createServer, type Server, type Socket } from 'node:net';
import { once } from 'node:events';
import WebSocket from 'ws';
import { errorMessage } from '../lib/errors.js';
import { log } from '../lib/log.js';
import { AllowList } from './allow.js';
import { Backoff } from './backoff.js';
import type { UpstreamConfig } from './options.js';
import { dialTcp } from './dial.js';
import { describeForward, type Forward } from './forward.js';
import { Session, type SessionOwner, type Transport } from './mux.js';
import { decodeControl, decodeFrame, encodeJson, FrameType, isResumeState, PROTOCOL_VERSION, TUNNEL_SUBPROTOCOL, type ControlMessage, type OpenTarget } from './protocol.js';
import type { StreamSocket, TunnelStream } from './stream.js';

export type ClientState = 'connecting' | 'up' | 'down' | 'refused' | 'closed';

class WsTransport implements Transport {
  constructor(private readonly ws: WebSocket) {}

  send(frame: Buffer): void {
    if (this.ws.readyState === WebSocket.OPEN) this.ws.send(frame);
  }

  /** terminate, not close: the connection is presumed dead, and a close handshake could hang. */
  close(): void {
    this.ws.terminate();
  }
}

interface SessionKeys {
  readonly id: string;
  readonly secret: string;
}

export interface ClientOptions {
  /** Stop (and report) when the server refuses the identity, instead of retrying. */
  readonly stopOnRefusal?: boolean;
  readonly onRefused?: (reason: string) => void;
}

/**
 * Masking (RFC 6455 section 10.3) keeps scripts in a browser from steering what a proxy on the
 * way caches; this client is no browser and sends only tunnel frames. An all-zero key is still a
 * valid masked frame, and with it `ws` sends the payload as it is instead of copying and XORing
 * every byte (the XOR alone was 5 % of the client's profile in the tunnel benchmark).
 */
function zeroMask(mask: Buffer): void {
  mask.fill(0);
}

export class TunnelClient implements SessionOwner {
  state: ClientState = 'connecting';
  private session: Session | null = null;
  private keys: SessionKeys | null = null;
  private ws: WebSocket | null = null;
  private heartbeatTimer: NodeJS.Timeout | null = null;
  private retryTimer: NodeJS.Timeout | null = null;
  private heartbeatMs: number;
  private timeoutMs: number;
  private readonly backoff: Backoff;
  private readonly localServers: Server[] = [];
  /** Local connections that arrived before the first session existed. */
  private readonly waiting: Array<{ socket: Socket; forward: Forward }> = [];
  private readonly remoteForwards: Forward[];
  private readonly accept: AllowList;
  reconnects = 0;
  connectedSince: Date | null = null;
  lastError = '';
  /** Bound local ports, in the order of the local forwards (port 0 becomes the real one). */
  readonly localPorts: number[] = [];

  constructor(
    readonly config: UpstreamConfig,
    private readonly options: ClientOptions = {},
  ) {
    this.heartbeatMs = config.heartbeatMs;
    this.timeoutMs = config.timeoutMs;
    this.backoff = new Backoff(config.reconnectMinMs, config.reconnectMaxMs);
    this.remoteForwards = config.forwards.filter((forward) => forward.kind === 'remote');
    this.accept = new AllowList(config.accept, []);
  }

  private get fields(): Record<string, string> {
    return { upstream: this.config.label, url: this.config.url };
  }

  get currentSession(): Session | null {
    return this.session;
  }

  /** Binds the local forwards (a failure is a startup error), then connects. */
  async start(): Promise<void> {
    for (const forward of this.config.forwards) {
      if (forward.kind !== 'local') continue;
      const server = createServer({ allowHalfOpen: true, pauseOnConnect: true }, (socket) => this.onLocalConnection(socket, forward));
      server.listen({ host: forward.bind, port: forward.port });
      try {
        await Promise.race([once(server, 'listening'), once(server, 'error').then(([error]) => Promise.reject(error as Error))]);
      } catch (error) {
        throw new Error(`${describeForward(forward)}: cannot listen on ${forward.bind}:${forward.port}: ${(error as NodeJS.ErrnoException).code ?? errorMessage(error)}`);
      }
      server.on('error', (error: NodeJS.ErrnoException) => log.error('local listener failed', { ...this.fields, forward: describeForward(forward), error: error.code ?? error.message }));
      const port = (server.address() as { port: number }).port;
      this.localPorts.push(port);
      this.localServers.push(server);
      log.info('forward', { ...this.fields, forward: describeForward({ ...forward, port }) });
    }
    this.heartbeatTimer = setInterval(() => this.heartbeat(), this.heartbeatMs);
    this.connect();
  }

  private onLocalConnection(socket: Socket, forward: Forward): void {
    socket.setNoDelay(true);
    if (this.session === null) {
      socket.on('error', () => socket.destroy());
      this.waiting.push({ socket, forward });
      return;
    }
    this.openForwarded(this.session, socket, forward);
  }

  private openForwarded(session: Session, socket: Socket, forward: Forward): void {
    if (session.open(socket, { host: forward.host, port: forward.hostPort }) === null) {
      log.warn('connection refused: too many streams', { ...this.fields, forward: describeForward({ ...forward, port: socket.localPort ?? forward.port }), limit: session.maxStreams });
    }
  }

  private connect(): void {
    if (this.state === 'closed') return;
    this.state = 'connecting';
    const ws = new WebSocket(this.config.url, [TUNNEL_SUBPROTOCOL], {
      perMessageDeflate: false,
      handshakeTimeout: this.timeoutMs,
      maxPayload: 1024 * 1024,
      generateMask: zeroMask,
    });
    this.ws = ws;
    ws.binaryType = 'nodebuffer';
    let lastHeard = Date.now();
    const transport = new WsTransport(ws);
    ws.on('open', () => {
      // Only a tunnel endpoint echoes the subprotocol: anything else must never see the token.
      if (ws.protocol !== TUNNEL_SUBPROTOCOL) {
        this.notATunnel(ws);
        return;
      }
      const resume = this.keys === null || this.session === null ? undefined : { id: this.keys.id, secret: this.keys.secret, state: this.session.resumeState() };
      transport.send(encodeJson(FrameType.control, 0, { type: 'hello', version: PROTOCOL_VERSION, name: this.config.name, token: this.config.token, ...(resume === undefined ? {} : { resume }) }));
    });
    ws.on('message', (data: Buffer) => {
      lastHeard = Date.now();
      if (this.ws !== ws) return;
      if (this.state === 'up' && this.session !== null) this.session.onMessage(data, true);
      else this.onHandshakeMessage(data, transport);
    });
    ws.on('unexpected-response', (_request, response) => {
      this.lost(ws, `HTTP ${String(response.statusCode)} ${response.statusMessage ?? ''}`.trim());
    });
    ws.on('error', (error: Error) => {
      // `ws` fails the handshake itself when the answer lacks the offered subprotocol.
      if (/subprotocol/i.test(error.message)) this.notATunnel(ws);
      else this.lost(ws, errorMessage(error));
    });
    ws.on('close', (code: number, reason: Buffer) => this.lost(ws, `connection closed (${code}${reason.length === 0 ? '' : ` ${reason.toString('utf8')}`})`));
    this.silentFor = () => Date.now() - lastHeard;
  }

  private notATunnel(ws: WebSocket): void {
    const reason = `${this.config.url} is not a websocksy tunnel endpoint (it did not accept the ${TUNNEL_SUBPROTOCOL} subprotocol); the token was not sent`;
    this.state = 'refused';
    this.lastError = reason;
    log.error('tunnel refused', { ...this.fields, why: reason });
    this.options.onRefused?.(reason);
    if (this.options.stopOnRefusal === true) this.close();
    else this.lost(ws, reason);
  }

  /** How long the current connection has been silent. */
  private silentFor: () => number = () => 0;

  private onHandshakeMessage(data: Buffer, transport: WsTransport): void {
    let message: ControlMessage;
    try {
      const frame = decodeFrame(data);
      if (frame.type !== FrameType.control) throw new Error(`frame type ${frame.type} before the welcome`);
      message = decodeControl(frame.body);
    } catch (error) {
      this.fail(`bad handshake answer: ${errorMessage(error)}`);
      return;
    }
    if (message.type === 'refuse') {
      this.state = 'refused';
      this.lastError = message.reason;
      log.error('tunnel refused', { ...this.fields, why: message.reason });
      this.options.onRefused?.(message.reason);
      if (this.options.stopOnRefusal === true) this.close();
      else this.fail(`refused: ${message.reason}`);
      return;
    }
    if (message.type !== 'welcome') {
      this.fail(`expected a welcome, got "${message.type}"`);
      return;
    }
    this.adoptTiming(message.heartbeatMs, message.timeoutMs);
    const resumed = message.resumed && this.session !== null && message.state !== undefined && isResumeState(message.state);
    if (!resumed) this.newSession(message, transport);
    else {
      const session = this.session as Session;
      session.attach(transport);
      this.state = 'up';
      session.resume(message.state as NonNullable<typeof message.state>);
      log.info('tunnel resumed', { ...this.fields, streams: session.streams.size, reconnects: this.reconnects });
    }
    this.connectedSince = new Date();
    this.backoff.reset();
  }

  private newSession(welcome: Extract<ControlMessage, { type: 'welcome' }>, transport: WsTransport): void {
    if (this.session !== null && this.session.streams.size > 0) {
      log.warn('session lost', { ...this.fields, streams: this.session.streams.size, why: 'the server no longer had the session (grace period over or server restarted)' });
      this.session.resetAll('session expired: the tunnel was down longer than the grace period');
    }
    this.keys = { id: welcome.session, secret: welcome.secret };
    const session = new Session('client', welcome.window, this);
    this.session = session;
    session.attach(transport);
    this.state = 'up';
    log.info('tunnel up', { ...this.fields, identity: this.config.name, session: welcome.session.slice(0, 8), reconnects: this.reconnects });
    this.remoteForwards.forEach((forward, listener) => session.sendControl({ type: 'listen', listener, bind: forward.bind, port: forward.port }));
    for (const { socket, forward } of this.waiting.splice(0)) {
      if (socket.destroyed) continue;
      socket.removeAllListeners('error');
      this.openForwarded(session, socket, forward);
    }
  }

  /** The server's heartbeat settings win: its timeout assumes them. */
  private adoptTiming(heartbeatMs: number, timeoutMs: number): void {
    this.timeoutMs = timeoutMs;
    if (heartbeatMs === this.heartbeatMs) return;
    this.heartbeatMs = heartbeatMs;
    if (this.heartbeatTimer !== null) clearInterval(this.heartbeatTimer);
    this.heartbeatTimer = setInterval(() => this.heartbeat(), heartbeatMs);
  }

  /** The current connection is dead or unusable: drop it and come back later. */
  private fail(reason: string): void {
    if (this.ws !== null) this.lost(this.ws, reason);
  }

  private lost(ws: WebSocket, reason: string): void {
    if (this.ws !== ws) return;
    this.ws = null;
    ws.terminate();
    this.session?.detach();
    if (this.state === 'closed') return;
    const wasUp = this.state === 'up';
    if (this.state !== 'refused') this.state = 'down';
    this.lastError = reason;
    this.reconnects++;
    const delay = this.backoff.next();
    if (wasUp) log.warn('tunnel down', { ...this.fields, why: reason, retry_ms: Math.round(delay), streams: this.session?.streams.size ?? 0 });
    else log.info('tunnel connect failed', { ...this.fields, why: reason, retry_ms: Math.round(delay) });
    this.retryTimer = setTimeout(() => this.connect(), delay);
  }

  private heartbeat(): void {
    if (this.ws === null) return;
    if (this.silentFor() > this.timeoutMs) {
      this.fail(`no answer for ${this.timeoutMs} ms`);
      return;
    }
    if (this.state === 'up') this.session?.ping();
  }

  // ---- SessionOwner ----

  /**
   * Opens a stream to `host:port` on the far side for an in-process user (an HTTP route), or
   * returns null while the tunnel is not up: a caller answering a request should not wait for
   * a reconnect that may take minutes.
   */
  openStream(socket: StreamSocket, host: string, port: number): TunnelStream | null {
    if (this.state !== 'up' || this.session === null) return null;
    return this.session.open(socket, { host, port });
  }

  async dial(target: OpenTarget): Promise<Socket> {
    if (!('listener' in target)) {
      // The far side (an HTTP route on the server) asks this side to dial: only what accept= names.
      try {
        if (this.config.accept.length === 0) throw new Error(`[upstream ${this.config.label}] accepts no streams to hosts (no accept = ...)`);
        const address = await this.accept.checkConnect(target.host, target.port);
        return await dialTcp(address, target.port);
      } catch (error) {
        log.warn('stream refused', { ...this.fields, target: `${target.host}:${target.port}`, why: errorMessage(error) });
        throw error;
      }
    }
    const forward = this.remoteForwards[target.listener];
    if (forward === undefined) throw new Error(`no remote forward number ${target.listener}`);
    return dialTcp(forward.host, forward.hostPort);
  }

  onControl(message: ControlMessage): void {
    if (message.type === 'listen-ok') {
      const forward = this.remoteForwards[message.listener];
      if (forward !== undefined) log.info('forward', { ...this.fields, forward: describeForward(forward), remote_port: message.port });
    } else if (message.type === 'listen-fail') {
      const forward = this.remoteForwards[message.listener];
      log.error('remote forward refused', { ...this.fields, forward: forward === undefined ? String(message.listener) : describeForward(forward), why: message.reason });
    } else {
      this.fail(`unexpected control message "${message.type}"`);
    }
  }

  onStreamEnded(stream: TunnelStream, reason: string | null): void {
    if (reason === null) log.debug('stream done', { ...this.fields, stream: stream.id, target: stream.description, in: stream.bytesIn, out: stream.bytesOut });
    else log.info('stream reset', { ...this.fields, stream: stream.id, target: stream.description, in: stream.bytesIn, out: stream.bytesOut, why: reason });
  }

  onTransportFailed(reason: string): void {
    this.fail(reason);
  }

  close(): void {
    this.state = 'closed';
    if (this.heartbeatTimer !== null) clearInterval(this.heartbeatTimer);
    if (this.retryTimer !== null) clearTimeout(this.retryTimer);
    const ws = this.ws;
    this.ws = null;
    ws?.terminate();
    this.session?.resetAll('client shutting down');
    for (const server of this.localServers) server.close();
    for (const { socket } of this.waiting.splice(0)) socket.destroy();
  }
}
