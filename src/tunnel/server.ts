/*
 * Accepting tunnels: a WebSocket route on the bridge's own port (`[tunnel] path`). The first
 * message must be a hello naming an identity and its token (compared in constant time); a
 * hello with a session id and secret resumes a detached session. Sessions outlive their
 * WebSocket for the grace period, then their streams are reset and their listeners closed.
 */
import type { WebSocket } from 'uWebSockets.js';
import type { SocketLimits, UpgradeAnswer, WsEndpoint } from '../core/endpoint.js';
import { Refusal } from '../core/refusal.js';
import { offeredProtocols, type ClientRequest } from '../core/request.js';
import { maxBackpressureFor } from '../core/send-policy.js';
import { errorMessage } from '../lib/errors.js';
import { log } from '../lib/log.js';
import type { AllowList } from './allow.js';
import type { TunnelServerConfig } from './options.js';
import { readIdentities, type Identity } from './identities.js';
import { SEND_BUDGET_BYTES } from './mux.js';
import { decodeControl, decodeFrame, encodeJson, FrameType, isResumeState, PROTOCOL_VERSION, ProtocolError, TUNNEL_SUBPROTOCOL, type ControlMessage } from './protocol.js';
import { RemoteListeners } from './remote-listeners.js';
import { digest, randomSecret, sameSecret } from './secret.js';
import { ServerSession, type ServerSessionContext } from './server-session.js';
import { UwsTransport, type TunnelSocketData } from './uws-transport.js';

/** A data frame is one socket read (≤ 64 KiB) plus its header; control messages stay small. */
const MAX_FRAME = 1024 * 1024;

export class TunnelServer implements ServerSessionContext, WsEndpoint<TunnelSocketData> {
  readonly name = 'tunnel';
  /** Credit bounds what is queued per session (mux.ts); this keeps uWS from ever dropping a frame. */
  readonly limits: SocketLimits = { maxPayloadLength: MAX_FRAME, maxBackpressure: maxBackpressureFor(SEND_BUDGET_BYTES, MAX_FRAME) };
  private identities: Map<string, Identity>;
  readonly sessions = new Map<string, ServerSession>();
  readonly listeners = new RemoteListeners();
  private readonly bySocket = new Map<UwsTransport, ServerSession>();
  private readonly heartbeatTimer: NodeJS.Timeout;
  private shuttingDown = false;

  constructor(readonly config: TunnelServerConfig) {
    this.identities = readIdentities(config.identitiesFile);
    // Clients ping every heartbeat; a session silent for the timeout has a dead transport.
    this.heartbeatTimer = setInterval(() => this.sweep(), Math.min(1000, config.timeoutMs / 2));
  }

  upgrade(request: ClientRequest, answer: UpgradeAnswer<TunnelSocketData>): void {
    if (this.shuttingDown) {
      answer.refuse(new Refusal(503, 'Shutting down', 'shutting down'));
      return;
    }
    if (!offeredProtocols(request).includes(TUNNEL_SUBPROTOCOL)) {
      answer.refuse(new Refusal(400, `Tunnel clients offer the ${TUNNEL_SUBPROTOCOL} subprotocol`, 'no tunnel subprotocol offered (an older websocksy client?)'));
      return;
    }
    answer.accept({ id: request.id, client: request.clientAddress, transport: null }, TUNNEL_SUBPROTOCOL);
  }

  open(ws: WebSocket<TunnelSocketData>): void {
    ws.getUserData().transport = new UwsTransport(ws);
  }

  message(ws: WebSocket<TunnelSocketData>, message: ArrayBuffer): void {
    this.onMessage(ws, Buffer.from(message));
  }

  drain(): void {
    // Credit, not uWS's drain, paces the streams.
  }

  close(ws: WebSocket<TunnelSocketData>, code: number, message: ArrayBuffer): void {
    this.onClose(ws, code, Buffer.from(message).toString('utf8'));
  }

  /**
   * The session through which to reach `identity` now: the most recent one with a live
   * transport, or null (an HTTP route answers 503 rather than wait out a grace period).
   */
  attachedSessionOf(identity: string): ServerSession | null {
    let found: ServerSession | null = null;
    for (const owner of this.sessions.values()) {
      if (owner.identity === identity && owner.transport !== null && (found === null || owner.createdAt >= found.createdAt)) found = owner;
    }
    return found;
  }

  allowOf(identity: string): AllowList | null {
    return this.identities.get(identity)?.allow ?? null;
  }

  /** SIGHUP: re-reads the identities file; a bad file keeps the old one and says why. */
  reload(): void {
    try {
      this.identities = readIdentities(this.config.identitiesFile);
      log.info('identities reloaded', { file: this.config.identitiesFile, identities: this.identities.size });
    } catch (error) {
      log.error('identities not reloaded, keeping the previous ones', { error: errorMessage(error) });
    }
  }

  private onMessage(ws: WebSocket<TunnelSocketData>, message: Buffer): void {
    const transport = ws.getUserData().transport;
    if (transport === null) return;
    const owner = this.bySocket.get(transport);
    if (owner !== undefined) {
      owner.session.onMessage(message, false);
      return;
    }
    const { client } = ws.getUserData();
    try {
      const frame = decodeFrame(message);
      if (frame.type !== FrameType.control) throw new ProtocolError('the first frame must be a hello');
      const hello = decodeControl(frame.body);
      if (hello.type !== 'hello') throw new ProtocolError(`the first message must be a hello, not "${hello.type}"`);
      this.onHello(transport, client, hello);
    } catch (error) {
      const reason = error instanceof ProtocolError ? `protocol error: ${error.message}` : errorMessage(error);
      log.warn('tunnel refused', { client, why: reason });
      transport.send(encodeControl({ type: 'refuse', reason }));
      transport.close(reason);
    }
  }

  private onHello(transport: UwsTransport, client: string, hello: Extract<ControlMessage, { type: 'hello' }>): void {
    const refuse = (reason: string, why = reason): void => {
      log.warn('tunnel refused', { client, identity: String(hello.name), why });
      transport.send(encodeControl({ type: 'refuse', reason }));
      transport.close(reason);
    };
    if (hello.version !== PROTOCOL_VERSION) return refuse(`protocol version ${String(hello.version)} is not supported (this server speaks ${PROTOCOL_VERSION})`);
    const identity = typeof hello.name === 'string' ? this.identities.get(hello.name) : undefined;
    // One answer for an unknown name and a wrong token, so names cannot be probed; the log tells them apart.
    const tokenOk = sameSecret(typeof hello.token === 'string' ? hello.token : '', identity?.tokenDigest ?? digest('\0no identity'));
    if (identity === undefined || !tokenOk) return refuse('unknown identity or wrong token', identity === undefined ? 'unknown identity' : 'wrong token');

    const resume = hello.resume;
    const previous = resume === undefined ? undefined : this.sessions.get(String(resume.id));
    if (resume !== undefined && previous !== undefined) {
      if (previous.identity !== identity.name || !sameSecret(String(resume.secret), previous.secretDigest)) return refuse('session secret does not match', 'resume with a wrong secret');
      if (!isResumeState(resume.state)) return refuse('malformed resume state');
      this.attach(previous, transport, client);
      previous.session.sendControl(this.welcome(previous, '', true));
      previous.session.resume(resume.state);
      log.info('tunnel resumed', { identity: identity.name, session: previous.id.slice(0, 8), client, streams: previous.session.streams.size, resumes: previous.session.counters.resumes });
      return;
    }
    const secret = randomSecret(32);
    const session = new ServerSession(randomSecret(16), digest(secret), identity.name, this.config.window, this);
    this.sessions.set(session.id, session);
    this.attach(session, transport, client);
    session.session.sendControl(this.welcome(session, secret, false));
    log.info('tunnel open', { identity: identity.name, session: session.id.slice(0, 8), client, ...(resume === undefined ? {} : { note: 'previous session expired' }) });
  }

  private welcome(owner: ServerSession, secret: string, resumed: boolean): ControlMessage {
    const { graceSeconds, window, heartbeatMs, timeoutMs } = this.config;
    return {
      type: 'welcome', session: owner.id, secret, resumed, graceSeconds, window, heartbeatMs, timeoutMs,
      ...(resumed ? { state: owner.session.resumeState() } : {}),
    };
  }

  private attach(owner: ServerSession, transport: UwsTransport, client: string): void {
    if (owner.transport !== null) this.detach(owner, 'replaced by a new connection of the same session');
    if (owner.graceTimer !== null) clearTimeout(owner.graceTimer);
    owner.graceTimer = null;
    owner.detachedAt = null;
    owner.transport = transport;
    owner.clientAddress = client;
    this.bySocket.set(transport, owner);
    owner.session.attach(transport);
  }

  /** Drops the session's transport and starts its grace period. */
  private detach(owner: ServerSession, reason: string): void {
    const transport = owner.transport;
    if (transport === null) return;
    this.bySocket.delete(transport as UwsTransport);
    transport.close(reason);
    owner.transport = null;
    owner.session.detach();
    owner.detachedAt = Date.now();
    log.info('tunnel detached', { identity: owner.identity, session: owner.id.slice(0, 8), streams: owner.session.streams.size, why: reason, grace: this.config.graceSeconds });
    owner.graceTimer = setTimeout(() => this.expire(owner), this.config.graceSeconds * 1000);
  }

  private expire(owner: ServerSession): void {
    const reason = `session expired: the tunnel was down longer than the ${this.config.graceSeconds} s grace period`;
    log.warn('session expired', { identity: owner.identity, session: owner.id.slice(0, 8), streams: owner.session.streams.size });
    this.end(owner, reason);
  }

  private end(owner: ServerSession, reason: string): void {
    if (owner.graceTimer !== null) clearTimeout(owner.graceTimer);
    owner.session.resetAll(reason);
    this.listeners.release(owner);
    this.sessions.delete(owner.id);
  }

  transportFailed(owner: ServerSession, reason: string): void {
    this.detach(owner, reason);
  }

  private onClose(ws: WebSocket<TunnelSocketData>, code: number, message: string): void {
    const transport = ws.getUserData().transport;
    if (transport === null) return;
    transport.closed = true;
    const owner = this.bySocket.get(transport);
    if (owner !== undefined) this.detach(owner, `connection closed (${code}${message === '' ? '' : ` ${message}`})`);
  }

  private sweep(): void {
    const now = Date.now();
    for (const owner of this.sessions.values()) {
      if (owner.transport !== null && now - owner.session.lastHeard > this.config.timeoutMs) {
        this.detach(owner, `no heartbeat for ${this.config.timeoutMs} ms`);
      }
    }
  }

  shutdown(): void {
    this.shuttingDown = true;
    clearInterval(this.heartbeatTimer);
    for (const owner of [...this.sessions.values()]) {
      owner.transport?.close('server shutting down');
      this.end(owner, 'server shutting down');
    }
  }
}

function encodeControl(message: ControlMessage): Buffer {
  return encodeJson(FrameType.control, 0, message);
}
