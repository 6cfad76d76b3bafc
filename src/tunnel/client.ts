/*
 * Keeping a tunnel to another instance ([upstream NAME], or `websocksy forward`): the client's
 * lifecycle. It connects (client-connection.ts), and on every later connection asks to resume
 * the session, so streams carry on across drops; it keeps its local forwards listening
 * (local-forwards.ts) and asks the far side to listen for its remote forwards. A heartbeat
 * declares a silent connection dead, and reconnects back off with jitter. Its timers and the
 * streams the far side opens run behind the guard, owned by the client.
 */
import type { Socket } from 'node:net';
import { errorMessage } from '../lib/errors.js';
import { guarded, type Guarded } from '../lib/guard.js';
import { log, type LogFields } from '../lib/log.js';
import { AllowList } from './allow.js';
import { Backoff } from './backoff.js';
import { ClientConnection, type ConnectionHandler, type Welcome } from './client-connection.js';
import type { UpstreamConfig } from './options.js';
import { dialTcp } from './dial.js';
import { describeForward, type Forward } from './forward.js';
import { LocalForwards } from './local-forwards.js';
import { Session, type SessionOwner } from './mux.js';
import { isResumeState, PROTOCOL_VERSION, type ControlMessage, type OpenTarget } from './protocol.js';
import type { StreamSocket, TunnelStream } from './stream.js';

export type ClientState = 'connecting' | 'up' | 'down' | 'refused' | 'closed';

interface SessionKeys {
  readonly id: string;
  readonly secret: string;
}

export interface ClientOptions {
  /** Stop (and report) when the server refuses the identity, instead of retrying. */
  readonly stopOnRefusal?: boolean;
  readonly onRefused?: (reason: string) => void;
}

export class TunnelClient implements SessionOwner, ConnectionHandler, Guarded {
  state: ClientState = 'connecting';
  private session: Session | null = null;
  private keys: SessionKeys | null = null;
  private connection: ClientConnection | null = null;
  private heartbeatTimer: NodeJS.Timeout | null = null;
  private retryTimer: NodeJS.Timeout | null = null;
  private heartbeatMs: number;
  private timeoutMs: number;
  private readonly backoff: Backoff;
  private readonly forwards: LocalForwards;
  private readonly remoteForwards: Forward[];
  private readonly accept: AllowList;
  reconnects = 0;
  /** Reconnects that took the session up again (its streams kept), since start-up. */
  resumes = 0;
  connectedSince: Date | null = null;
  lastError = '';

  constructor(
    readonly config: UpstreamConfig,
    private readonly options: ClientOptions = {},
  ) {
    this.heartbeatMs = config.heartbeatMs;
    this.timeoutMs = config.timeoutMs;
    this.backoff = new Backoff(config.reconnectMinMs, config.reconnectMaxMs);
    this.forwards = new LocalForwards(config.forwards, this);
    this.remoteForwards = config.forwards.filter((forward) => forward.kind === 'remote');
    this.accept = new AllowList(config.accept, []);
  }

  get logFields(): LogFields {
    return { upstream: this.config.label, url: this.config.url };
  }

  /** A throw in the client's own code drops the current connection; the session resumes on the next. */
  abortAfterFault(reason: string): void {
    this.connection?.close();
    this.dropped(reason);
  }

  get currentSession(): Session | null {
    return this.session;
  }

  /** Bound local ports, in the order of the local forwards (port 0 becomes the real one). */
  get localPorts(): readonly number[] {
    return this.forwards.ports;
  }

  /** Binds the local forwards (a failure is a startup error), then connects. */
  async start(): Promise<void> {
    await this.forwards.listen();
    this.startHeartbeat();
    this.connect();
  }

  private startHeartbeat(): void {
    if (this.heartbeatTimer !== null) clearInterval(this.heartbeatTimer);
    this.heartbeatTimer = setInterval(guarded(this, 'heartbeat', () => this.heartbeat()), this.heartbeatMs);
  }

  private connect(): void {
    this.retryTimer = null;
    if (this.state === 'closed') return;
    this.state = 'connecting';
    this.connection = new ClientConnection(this.config.url, this.timeoutMs, this, this.config.tls);
  }

  // ---- ConnectionHandler ----

  hello(): ControlMessage {
    const resume = this.keys === null || this.session === null ? undefined : { id: this.keys.id, secret: this.keys.secret, state: this.session.resumeState() };
    return { type: 'hello', version: PROTOCOL_VERSION, name: this.config.name, token: this.config.token, ...(resume === undefined ? {} : { resume }) };
  }

  welcomed(connection: ClientConnection, welcome: Welcome): void {
    if (connection !== this.connection) return;
    this.adoptTiming(welcome.heartbeatMs, welcome.timeoutMs);
    const state = welcome.state;
    if (welcome.resumed && this.session !== null && state !== undefined && isResumeState(state)) {
      const session = this.session;
      session.attach(connection);
      this.state = 'up';
      session.resume(state);
      this.resumes++;
      log.info('tunnel resumed', { ...this.logFields, streams: session.streams.size, reconnects: this.reconnects });
    } else {
      this.newSession(welcome, connection);
    }
    this.connectedSince = new Date();
    this.backoff.reset();
  }

  refused(connection: ClientConnection, reason: string): void {
    if (connection !== this.connection) return;
    this.state = 'refused';
    this.lastError = reason;
    log.error('tunnel refused', { ...this.logFields, why: reason });
    this.options.onRefused?.(reason);
    if (this.options.stopOnRefusal === true) this.close();
    else this.dropped(`refused: ${reason}`);
  }

  message(connection: ClientConnection, data: Buffer, owned: boolean): void {
    if (connection === this.connection) this.session?.onMessage(data, owned);
  }

  lost(connection: ClientConnection, reason: string): void {
    if (connection === this.connection) this.dropped(reason);
  }

  /** The current connection is gone (or there is none): detach the session, come back later. */
  private dropped(reason: string): void {
    this.connection = null;
    this.session?.detach();
    if (this.state === 'closed') return;
    const wasUp = this.state === 'up';
    if (this.state !== 'refused') this.state = 'down';
    this.lastError = reason;
    this.reconnects++;
    const delay = this.backoff.next();
    if (wasUp) log.warn('tunnel down', { ...this.logFields, why: reason, retry_ms: Math.round(delay), streams: this.session?.streams.size ?? 0 });
    else log.info('tunnel connect failed', { ...this.logFields, why: reason, retry_ms: Math.round(delay) });
    if (this.retryTimer !== null) clearTimeout(this.retryTimer);
    this.retryTimer = setTimeout(guarded(this, 'reconnect', () => this.connect()), delay);
  }

  private newSession(welcome: Welcome, connection: ClientConnection): void {
    if (this.session !== null && this.session.streams.size > 0) {
      log.warn('session lost', { ...this.logFields, streams: this.session.streams.size, why: 'the server no longer had the session (grace period over or server restarted)' });
      this.session.resetAll('session expired: the tunnel was down longer than the grace period');
    }
    this.keys = { id: welcome.session, secret: welcome.secret };
    const session = new Session('client', welcome.window, this);
    this.session = session;
    session.attach(connection);
    this.state = 'up';
    log.info('tunnel up', { ...this.logFields, identity: this.config.name, session: welcome.session.slice(0, 8), reconnects: this.reconnects });
    this.remoteForwards.forEach((forward, listener) => session.sendControl({ type: 'listen', listener, bind: forward.bind, port: forward.port }));
    this.forwards.flush(session);
  }

  /** The server's heartbeat settings win: its timeout assumes them. */
  private adoptTiming(heartbeatMs: number, timeoutMs: number): void {
    this.timeoutMs = timeoutMs;
    if (heartbeatMs === this.heartbeatMs) return;
    this.heartbeatMs = heartbeatMs;
    this.startHeartbeat();
  }

  private heartbeat(): void {
    const connection = this.connection;
    if (connection === null) return;
    if (connection.silentMs > this.timeoutMs) connection.fail(`no answer for ${this.timeoutMs} ms`);
    else if (this.state === 'up') this.session?.ping();
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
        log.warn('stream refused', { ...this.logFields, target: `${target.host}:${target.port}`, why: errorMessage(error) });
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
      if (forward !== undefined) log.info('forward', { ...this.logFields, forward: describeForward(forward), remote_port: message.port });
    } else if (message.type === 'listen-fail') {
      const forward = this.remoteForwards[message.listener];
      log.error('remote forward refused', { ...this.logFields, forward: forward === undefined ? String(message.listener) : describeForward(forward), why: message.reason });
    } else {
      this.connection?.fail(`unexpected control message "${message.type}"`);
    }
  }

  onStreamEnded(stream: TunnelStream, reason: string | null): void {
    if (reason === null) log.debug('stream done', { ...this.logFields, stream: stream.id, target: stream.description, in: stream.bytesIn, out: stream.bytesOut });
    else log.info('stream reset', { ...this.logFields, stream: stream.id, target: stream.description, in: stream.bytesIn, out: stream.bytesOut, why: reason });
  }

  onTransportFailed(reason: string): void {
    this.connection?.fail(reason);
  }

  close(): void {
    this.state = 'closed';
    if (this.heartbeatTimer !== null) clearInterval(this.heartbeatTimer);
    if (this.retryTimer !== null) clearTimeout(this.retryTimer);
    const connection = this.connection;
    this.connection = null;
    connection?.close();
    this.session?.resetAll('client shutting down');
    this.forwards.close();
  }
}
