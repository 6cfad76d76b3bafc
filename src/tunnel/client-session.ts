/*
 * One session of a tunnel client, and the connection that carries it now. The client has one
 * current session, which it resumes across drops. A server that drains sends `goaway`
 * (docs/tunnel-protocol.md, "A server that drains"): the client then retires the session —
 * it opens nothing new in it and never resumes it — and starts a new one beside it, so the
 * old session's streams finish on the old connection. That is why each session has its own
 * owner: what its frames say (a protocol error, a control message) concerns its connection,
 * not whichever connection is current.
 */
import type { Socket } from 'node:net';
import { log, type LogFields } from '../lib/log.js';
import type { ClientConnection } from './client-connection.js';
import { Session, type SessionOwner } from './mux.js';
import type { ControlMessage, OpenTarget } from './protocol.js';
import type { StreamSocket, TunnelStream } from './stream.js';

/** What a client session asks of its client. */
export interface ClientSessionHost {
  readonly logFields: LogFields;
  dial(target: OpenTarget, signal: AbortSignal): Promise<Socket>;
  onControl(from: ClientSession, message: ControlMessage): void;
  /** A local connection the server asked to open elsewhere (goaway): on the new session, or waiting for it. */
  reopen(socket: StreamSocket, target: OpenTarget): void;
}

export class ClientSession implements SessionOwner {
  readonly session: Session;
  private connection: ClientConnection | null = null;
  /** A goaway moved the client to a new session: this one opens nothing more. */
  retired = false;
  /** When its latest connection was welcomed: a goaway soon after is paced (client.ts). */
  attachedAt = 0;

  constructor(
    readonly id: string,
    readonly secret: string,
    window: number,
    private readonly host: ClientSessionHost,
  ) {
    this.session = new Session('client', window, this);
  }

  get logFields(): LogFields {
    return this.host.logFields;
  }

  get streams(): number {
    return this.session.streams.size;
  }

  carriedBy(connection: ClientConnection): boolean {
    return this.connection === connection;
  }

  attach(connection: ClientConnection): void {
    this.connection = connection;
    this.attachedAt = Date.now();
    this.session.attach(connection);
  }

  /** The connection is gone (already closed): the streams wait for a resume, or for close(). */
  detach(): void {
    this.connection = null;
    this.session.detach();
  }

  /** One heartbeat: a connection silent past the timeout fails, a live one is pinged. */
  keepAlive(timeoutMs: number): void {
    if (this.connection !== null && !this.connection.failIfSilent(timeoutMs)) this.session.ping();
  }

  /** Ends the session here: its connection closes, its streams are reset with `reason`. */
  close(reason: string): void {
    const connection = this.connection;
    this.detach();
    connection?.close();
    this.session.resetAll(reason);
  }

  // ---- SessionOwner ----

  dial(target: OpenTarget, signal: AbortSignal): Promise<Socket> {
    return this.host.dial(target, signal);
  }

  onControl(message: ControlMessage): void {
    this.host.onControl(this, message);
  }

  onStreamEnded(stream: TunnelStream, reason: string | null): void {
    if (reason === null) log.debug('stream done', { ...this.logFields, stream: stream.id, target: stream.description, in: stream.bytesIn, out: stream.bytesOut });
    else log.info('stream reset', { ...this.logFields, stream: stream.id, target: stream.description, in: stream.bytesIn, out: stream.bytesOut, why: reason });
  }

  onTransportFailed(reason: string): void {
    this.connection?.fail(reason);
  }

  reopen(socket: StreamSocket, target: OpenTarget): void {
    this.host.reopen(socket, target);
  }
}
