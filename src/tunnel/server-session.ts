/*
 * The server's half of one tunnel session: it authorises what the client's streams may reach
 * and which ports it may have listened on, keeps the session through transport drops for the
 * grace period, and reports itself for the status endpoint. When the server drains, a client
 * that announced `goaway` in its hello is told to go away: from then on its OPENs are
 * rejected, and the session ends as soon as its last stream has, so the drain need not wait for
 * its deadline (docs/tunnel-protocol.md, "A server that drains"). Its callbacks (listen results,
 * the grace timer) run behind the guard with the session as owner: a throw ends this session alone.
 */
import type { Socket } from 'node:net';
import { errorMessage } from '../lib/errors.js';
import { guarded, type Guarded } from '../lib/guard.js';
import { log, type LogFields } from '../lib/log.js';
import { isBindAddress, type AllowList } from './allow.js';
import { dialTcp } from './dial.js';
import { Session, type SessionOwner, type Transport } from './mux.js';
import { GOAWAY_REJECT_REASON, type ControlMessage, type OpenTarget } from './protocol.js';
import type { ListenerOwner, RemoteListeners } from './remote-listeners.js';
import type { StreamSocket, TunnelStream } from './stream.js';

export interface ServerSessionContext {
  readonly listeners: RemoteListeners;
  /** The identity's current allow-list (identities may be reloaded), or null if it is gone. */
  allowOf(identity: string): AllowList | null;
  /** The session's transport failed: close it, keep the session for the grace period. */
  transportFailed(session: ServerSession, reason: string): void;
  /** Ends the session now: its streams are reset, its listeners closed. */
  endSession(session: ServerSession, reason: string): void;
}

export class ServerSession implements SessionOwner, ListenerOwner, Guarded {
  readonly session: Session;
  transport: Transport | null = null;
  clientAddress = '';
  readonly createdAt = new Date();
  detachedAt: number | null = null;
  graceTimer: NodeJS.Timeout | null = null;
  /** Its client's latest hello announced `goaway`. */
  understandsGoaway = false;
  private sentGoaway = false;

  constructor(
    readonly id: string,
    readonly secretDigest: Buffer,
    readonly identity: string,
    window: number,
    private readonly context: ServerSessionContext,
  ) {
    this.session = new Session('server', window, this);
  }

  get logFields(): LogFields {
    return { identity: this.identity, session: this.id.slice(0, 8), client: this.clientAddress };
  }

  abortAfterFault(reason: string): void {
    this.context.endSession(this, reason);
  }

  get attached(): boolean {
    return this.transport !== null;
  }

  get maxStreams(): number {
    return this.session.maxStreams;
  }

  /** Runs `expire` once the grace period is over, unless the session is attached again first. */
  startGrace(seconds: number, expire: () => void): void {
    this.stopGrace();
    this.graceTimer = setTimeout(guarded(this, 'grace timer', expire), seconds * 1000);
  }

  stopGrace(): void {
    if (this.graceTimer !== null) clearTimeout(this.graceTimer);
    this.graceTimer = null;
  }

  /** A goaway was sent: the client opens its new streams elsewhere and never resumes this session. */
  get goneAway(): boolean {
    return this.sentGoaway;
  }

  /**
   * The server drains: tells a client that understands it to move to a new connection (a
   * version-1 client would fail on the message, and keeps today's drain). Only on a live
   * transport: a detached client's next connection reaches another instance anyway.
   */
  goAway(): void {
    if (!this.understandsGoaway || this.sentGoaway || this.transport === null) return;
    this.sentGoaway = true;
    this.session.sendControl({ type: 'goaway' });
    log.info('tunnel told to go away', { ...this.logFields, streams: this.session.streams.size });
    this.endIfDone();
  }

  private endIfDone(): void {
    if (!this.sentGoaway || this.session.streams.size > 0) return;
    const reason = 'server going away: every stream has ended';
    log.info('tunnel closed', { ...this.logFields, why: reason });
    this.context.endSession(this, reason);
  }

  async dial(target: OpenTarget, signal: AbortSignal): Promise<Socket> {
    if ('listener' in target) throw new Error('a client cannot open a stream to a listener');
    const allow = this.context.allowOf(this.identity);
    try {
      // A client that sent this OPEN before the goaway reached it opens the stream again on its new connection.
      if (this.sentGoaway) throw new Error(GOAWAY_REJECT_REASON);
      if (allow === null) throw new Error(`identity ${this.identity} no longer exists`);
      const address = await allow.checkConnect(target.host, target.port);
      return await dialTcp(address, target.port, signal);
    } catch (error) {
      // The stream ended while it dialled: its end was logged, this is no refusal.
      if (signal.aborted) throw error;
      log.warn('stream refused', { ...this.logFields, target: `${target.host}:${target.port}`, why: errorMessage(error) });
      throw error;
    }
  }

  onControl(message: ControlMessage): void {
    if (message.type !== 'listen') {
      this.context.transportFailed(this, `unexpected control message "${message.type}"`);
      return;
    }
    const { listener, bind, port } = message;
    const refuse = (reason: string): void => {
      log.warn('listen refused', { ...this.logFields, address: `${bind}:${port}`, why: reason });
      this.session.sendControl({ type: 'listen-fail', listener, reason });
    };
    if (!Number.isSafeInteger(listener) || listener < 0 || typeof bind !== 'string' || !Number.isInteger(port) || port < 0 || port > 65535) {
      refuse('listen request needs listener, bind and port');
      return;
    }
    // A name would have this server resolve whatever a client asks of its resolver.
    if (!isBindAddress(bind)) {
      refuse(`bind address "${bind.slice(0, 64)}" is not an IP address or localhost`);
      return;
    }
    try {
      const allow = this.context.allowOf(this.identity);
      if (allow === null) throw new Error(`identity ${this.identity} no longer exists`);
      allow.checkListen(bind, port);
    } catch (error) {
      refuse(errorMessage(error));
      return;
    }
    this.context.listeners.listen(this, listener, bind, port).then(
      guarded(this, 'listen done', (bound: number) => {
        log.info('remote listener', { ...this.logFields, address: `${bind}:${bound}` });
        this.session.sendControl({ type: 'listen-ok', listener, port: bound });
      }),
      guarded(this, 'listen failed', (error: unknown) => refuse(errorMessage(error))),
    );
  }

  accepted(listener: number, socket: StreamSocket): void {
    if (this.session.open(socket, { listener }) === null) {
      log.warn('connection refused: too many streams', { ...this.logFields, listener, limit: this.session.maxStreams });
    }
  }

  onStreamEnded(stream: TunnelStream, reason: string | null): void {
    if (reason === null) log.debug('stream done', { ...this.logFields, stream: stream.id, target: stream.description, in: stream.bytesIn, out: stream.bytesOut });
    else log.info('stream reset', { ...this.logFields, stream: stream.id, target: stream.description, in: stream.bytesIn, out: stream.bytesOut, why: reason });
    this.endIfDone();
  }

  onTransportFailed(reason: string): void {
    this.context.transportFailed(this, reason);
  }
}
