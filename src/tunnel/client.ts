/*
 * Keeping a tunnel to another instance ([upstream NAME], or `websocksy forward`): the client's
 * lifecycle. It connects (client-connection.ts), and on every later connection asks to resume
 * the session, so streams carry on across drops; it keeps its local forwards listening
 * (local-forwards.ts) and asks the far side to listen for its remote forwards. A heartbeat
 * declares a silent connection dead, and reconnects back off with jitter. When the server
 * drains and says `goaway`, the client connects again at once (through the same URL: behind a
 * load balancer, to another instance) with a new session, and keeps the old session on the
 * old connection only until the server closes it (client-session.ts). Its timers run behind
 * the guard, owned by the client.
 */
import type { Socket } from 'node:net';
import { errorMessage } from '../lib/errors.js';
import { guarded, type Guarded } from '../lib/guard.js';
import { log, type LogFields } from '../lib/log.js';
import { AllowList } from './allow.js';
import { Backoff } from './backoff.js';
import { ClientConnection, type ConnectionHandler } from './client-connection.js';
import { ClientSession, type ClientSessionHost } from './client-session.js';
import type { UpstreamConfig } from './options.js';
import { dialTcp } from './dial.js';
import { describeForward, type Forward } from './forward.js';
import { LocalForwards } from './local-forwards.js';
import type { Session } from './mux.js';
import { CLIENT_FEATURES, isResumeState, PROTOCOL_VERSION, type ControlMessage, type OpenTarget } from './protocol.js';
import type { StreamSocket, TunnelStream } from './stream.js';
import type { Welcome } from './welcome.js';

export type ClientState = 'connecting' | 'up' | 'down' | 'refused' | 'closed';

/**
 * Old connections kept for the streams of retired sessions. A draining server closes each once
 * its streams end; one that never does (or says goaway on every session) would otherwise have
 * the client hold a connection per goaway without end. Past the limit the oldest is closed.
 */
export const MAX_OLD_CONNECTIONS = 8;

/**
 * A goaway on a session up this long is a drain: the client connects again at once. One sooner
 * is paced by a backoff of its own, so that a server that answers every welcome with a goaway
 * does not draw a connection every millisecond.
 */
export const SETTLED_SESSION_MS = 10_000;

export interface ClientOptions {
  /** Stop (and report) when the server refuses the identity, instead of retrying. */
  readonly stopOnRefusal?: boolean;
  readonly onRefused?: (reason: string) => void;
}

export class TunnelClient implements ClientSessionHost, ConnectionHandler, Guarded {
  state: ClientState = 'connecting';
  /** The session new streams go to, resumed across drops; null before the first welcome and after a goaway. */
  private current: ClientSession | null = null;
  /** The connection of the current session, or the attempt to make one. */
  private connection: ClientConnection | null = null;
  /** Sessions a goaway retired, each on its old connection until the server closes it. */
  private readonly retired = new Set<ClientSession>();
  private heartbeatTimer: NodeJS.Timeout | null = null;
  private retryTimer: NodeJS.Timeout | null = null;
  private heartbeatMs: number;
  private timeoutMs: number;
  private readonly backoff: Backoff;
  /** Paces goaways that come soon after their welcome; reset by one on a settled session. */
  private readonly goawayBackoff: Backoff;
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
    this.goawayBackoff = new Backoff(config.reconnectMinMs, config.reconnectMaxMs);
    this.forwards = new LocalForwards(config.forwards, this);
    this.remoteForwards = config.forwards.filter((forward) => forward.kind === 'remote');
    this.accept = new AllowList(config.accept, []);
  }

  get logFields(): LogFields {
    return { upstream: this.config.label, url: this.config.url };
  }

  /** A throw in the client's own code (a timer) drops the current connection; the session resumes on the next. */
  abortAfterFault(reason: string): void {
    this.connection?.close();
    this.dropped(reason);
  }

  get currentSession(): Session | null {
    return this.current?.session ?? null;
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
    const current = this.current;
    const resume = current === null ? undefined : { id: current.id, secret: current.secret, state: current.session.resumeState() };
    return { type: 'hello', version: PROTOCOL_VERSION, name: this.config.name, token: this.config.token, features: CLIENT_FEATURES, ...(resume === undefined ? {} : { resume }) };
  }

  welcomed(connection: ClientConnection, welcome: Welcome): void {
    if (connection !== this.connection) return;
    this.adoptTiming(welcome.heartbeatMs, welcome.timeoutMs);
    const state = welcome.state;
    if (welcome.resumed && this.current !== null && state !== undefined && isResumeState(state)) {
      const current = this.current;
      current.attach(connection);
      this.state = 'up';
      current.session.resume(state);
      this.resumes++;
      log.info('tunnel resumed', { ...this.logFields, streams: current.streams, reconnects: this.reconnects });
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
    if (connection === this.connection) this.current?.session.onMessage(data, owned);
    else this.retiredOn(connection)?.session.onMessage(data, owned);
  }

  lost(connection: ClientConnection, reason: string): void {
    if (connection === this.connection) this.dropped(reason);
    else {
      const old = this.retiredOn(connection);
      if (old !== undefined) this.oldConnectionClosed(old, reason);
    }
  }

  private retiredOn(connection: ClientConnection): ClientSession | undefined {
    for (const old of this.retired) if (old.carriedBy(connection)) return old;
    return undefined;
  }

  /** The current connection is gone (or there is none): detach the session, come back later. */
  private dropped(reason: string): void {
    this.connection = null;
    this.current?.detach();
    if (this.state === 'closed') return;
    const wasUp = this.state === 'up';
    if (this.state !== 'refused') this.state = 'down';
    this.lastError = reason;
    this.reconnects++;
    const delay = this.backoff.next();
    if (wasUp) log.warn('tunnel down', { ...this.logFields, why: reason, retry_ms: Math.round(delay), streams: this.current?.streams ?? 0 });
    else log.info('tunnel connect failed', { ...this.logFields, why: reason, retry_ms: Math.round(delay) });
    if (this.retryTimer !== null) clearTimeout(this.retryTimer);
    this.retryTimer = setTimeout(guarded(this, 'reconnect', () => this.connect()), delay);
  }

  private newSession(welcome: Welcome, connection: ClientConnection): void {
    if (this.current !== null && this.current.streams > 0) {
      log.warn('session lost', { ...this.logFields, streams: this.current.streams, why: 'the server no longer had the session (grace period over or server restarted)' });
      this.current.session.resetAll('session expired: the tunnel was down longer than the grace period');
    }
    const current = new ClientSession(welcome.session, welcome.secret, welcome.window, this);
    this.current = current;
    current.attach(connection);
    const { session } = current;
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

  /** Old connections are kept alive too: the server takes a silent one for dead and resets its streams. */
  private heartbeat(): void {
    for (const old of [...this.retired]) old.keepAlive(this.timeoutMs);
    if (this.state === 'up') this.current?.keepAlive(this.timeoutMs);
    else this.connection?.failIfSilent(this.timeoutMs);
  }

  /**
   * The server drains: the current session retires on its connection, and a new connection
   * (through the same URL, so another instance behind a load balancer) starts a new session
   * at once, asking again for the remote listeners. Local connections wait for it meanwhile.
   */
  private goAway(from: ClientSession): void {
    if (this.state === 'closed') return;
    const settled = Date.now() - from.attachedAt >= SETTLED_SESSION_MS;
    if (settled) this.goawayBackoff.reset();
    const delay = settled ? 0 : this.goawayBackoff.next();
    log.info('server going away: moving to a new connection', {
      ...this.logFields, streams: from.streams, remote_forwards: this.remoteForwards.length, old_connections: this.retired.size + 1, ...(settled ? {} : { retry_ms: Math.round(delay) }),
    });
    from.retired = true;
    this.retired.add(from);
    this.closeOldestIfOverLimit();
    this.current = null;
    this.connection = null;
    this.state = 'connecting';
    this.backoff.reset();
    if (this.retryTimer !== null) clearTimeout(this.retryTimer);
    if (settled) this.connect();
    else this.retryTimer = setTimeout(guarded(this, 'reconnect', () => this.connect()), delay);
  }

  /** Past MAX_OLD_CONNECTIONS, the oldest old connection goes, with whatever streams it still carries. */
  private closeOldestIfOverLimit(): void {
    if (this.retired.size <= MAX_OLD_CONNECTIONS) return;
    const [oldest] = this.retired;
    if (oldest === undefined) return;
    this.retired.delete(oldest);
    const reason = `more than ${MAX_OLD_CONNECTIONS} old connections after goaways: the oldest is closed (the server never closed it)`;
    log.warn('old connection closed', { ...this.logFields, streams: oldest.streams, why: reason });
    oldest.session.handOverUnaccepted();
    oldest.close(reason);
  }

  /**
   * An old connection closed (by the server once its streams ended, or at its deadline): never
   * resumed. A stream whose OPEN crossed the goaway to a session the server closed at once (it
   * had no streams) was never accepted: it moves to the new session.
   */
  private oldConnectionClosed(old: ClientSession, reason: string): void {
    this.retired.delete(old);
    old.session.handOverUnaccepted();
    if (old.streams === 0) {
      log.debug('old connection closed', { ...this.logFields, why: reason });
      old.detach();
      return;
    }
    log.warn('old connection closed before its streams ended', { ...this.logFields, streams: old.streams, why: reason });
    old.close(`the server went away before the stream ended (${reason})`);
  }

  // ---- ClientSessionHost ----

  /**
   * Opens a stream to `host:port` on the far side for an in-process user (an HTTP route), or
   * returns null while the tunnel is not up: a caller answering a request should not wait for
   * a reconnect that may take minutes.
   */
  openStream(socket: StreamSocket, host: string, port: number): TunnelStream | null {
    if (this.state !== 'up' || this.current === null) return null;
    return this.current.session.open(socket, { host, port });
  }

  async dial(target: OpenTarget, signal: AbortSignal): Promise<Socket> {
    if (!('listener' in target)) {
      // The far side (an HTTP route on the server) asks this side to dial: only what accept= names.
      try {
        if (this.config.accept.length === 0) throw new Error(`[upstream ${this.config.label}] accepts no streams to hosts (no accept = ...)`);
        const address = await this.accept.checkConnect(target.host, target.port);
        return await dialTcp(address, target.port, signal);
      } catch (error) {
        if (signal.aborted) throw error;
        log.warn('stream refused', { ...this.logFields, target: `${target.host}:${target.port}`, why: errorMessage(error) });
        throw error;
      }
    }
    const forward = this.remoteForwards[target.listener];
    if (forward === undefined) throw new Error(`no remote forward number ${target.listener}`);
    return dialTcp(forward.host, forward.hostPort, signal);
  }

  reopen(socket: StreamSocket, target: OpenTarget): void {
    this.forwards.reopen(socket, target);
  }

  onControl(from: ClientSession, message: ControlMessage): void {
    if (message.type === 'goaway') {
      // A retired session's repeat needs nothing more: the client already moved.
      if (from === this.current) this.goAway(from);
    } else if (message.type === 'listen-ok') {
      const forward = this.remoteForwards[message.listener];
      if (forward !== undefined) log.info('forward', { ...this.logFields, forward: describeForward(forward), remote_port: message.port });
    } else if (message.type === 'listen-fail') {
      const forward = this.remoteForwards[message.listener];
      log.error('remote forward refused', { ...this.logFields, forward: forward === undefined ? String(message.listener) : describeForward(forward), why: message.reason });
    } else {
      from.onTransportFailed(`unexpected control message "${message.type}"`);
    }
  }

  close(): void {
    this.state = 'closed';
    if (this.heartbeatTimer !== null) clearInterval(this.heartbeatTimer);
    if (this.retryTimer !== null) clearTimeout(this.retryTimer);
    const connection = this.connection;
    this.connection = null;
    connection?.close();
    this.current?.session.resetAll('client shutting down');
    for (const old of this.retired) old.close('client shutting down');
    this.retired.clear();
    this.forwards.close();
  }
}
