/*
 * A peer still connecting, for an early upgrade (core option early-upgrade): the 101 has gone
 * out and the bridge runs while the connect finishes. What the client sends meanwhile is copied
 * and kept, counted in queuedBytes like anything the peer has not taken (so peer-buffer bounds
 * it); once connected, it goes first, in order, and the connection takes over. A connect that
 * fails reaches the bridge as a peer error (a PeerConnectError), which closes the client with
 * 1014; a client that leaves first has its kept messages delivered once the peer is there, as
 * any close delivers what was accepted.
 */
import type { PeerAddress } from './peer-address.js';
import { reportEarlyError, type PeerConnection, type PeerEvents } from './peer.js';
import { reportFault } from '../lib/guard.js';
import { log } from '../lib/log.js';
import { errorMessage } from '../lib/errors.js';

/** Who hears how long the connect took (the bridge's observer: the metrics' connect time). */
export interface ConnectTimer {
  peerConnected(seconds: number): void;
}

interface Finish {
  readonly lingerMs: number;
  readonly done: (undelivered: number) => void;
}

export class ConnectingPeer implements PeerConnection {
  private connection: PeerConnection | null = null;
  private events: PeerEvents | null = null;
  /** Client messages that came before the connection, copied; null when none wait. */
  private kept: Buffer[] | null = null;
  private keptBytes = 0;
  private paused = false;
  private finishing: Finish | null = null;
  /** destroy() ran, or the connect failed: a connection that arrives now is closed at once. */
  private over = false;
  /** The connection has been started (it reads and reports to the bridge). */
  private started = false;
  /** The connect's failure, kept for a bridge that starts after it (reported as a connection's early error is). */
  private failure: Error | null = null;
  /** When the connect began, for the connect time the metrics keep. */
  private readonly startedAt = performance.now();

  constructor(
    readonly address: PeerAddress,
    connecting: Promise<PeerConnection>,
    private readonly timer: ConnectTimer,
  ) {
    connecting.then(
      (connection) => this.connected(connection),
      (error: unknown) => this.failed(error instanceof Error ? error : new Error(String(error))),
    );
  }

  get queuedBytes(): number {
    return this.connection?.queuedBytes ?? this.keptBytes;
  }

  get droppedDatagrams(): number {
    return this.connection?.droppedDatagrams ?? 0;
  }

  start(events: PeerEvents): void {
    this.events = events;
    if (this.connection !== null && !this.paused) this.startConnection(this.connection, events);
    if (this.failure !== null) reportEarlyError(events, this.failure);
  }

  write(message: Uint8Array): void {
    if (this.connection !== null) {
      this.connection.write(message);
      return;
    }
    (this.kept ??= []).push(Buffer.copyBytesFrom(message));
    this.keptBytes += message.length;
  }

  pause(): void {
    this.paused = true;
    this.connection?.pause();
  }

  resume(): void {
    if (!this.paused) return;
    this.paused = false;
    const events = this.events;
    // A connection that came while paused was not started yet: starting it is its resume.
    if (this.connection !== null && events !== null && !this.started) this.startConnection(this.connection, events);
    else this.connection?.resume();
  }

  finish(lingerMs: number, done: (undelivered: number) => void): void {
    this.events = null;
    if (this.connection !== null) this.connection.finish(lingerMs, done);
    else if (this.over) done(this.dropKept());
    else this.finishing = { lingerMs, done };
  }

  destroy(): number {
    this.events = null;
    this.finishing = null;
    if (this.connection !== null) return this.connection.destroy();
    this.over = true;
    return this.dropKept();
  }

  private connected(connection: PeerConnection): void {
    if (this.over) {
      connection.destroy();
      return;
    }
    this.connection = connection;
    const events = this.events;
    try {
      this.timer.peerConnected((performance.now() - this.startedAt) / 1000);
      // Started only unpaused: a start resumes reading, and a pause right behind it would not
      // stop the read Node has already scheduled.
      if (events !== null && !this.paused) this.startConnection(connection, events);
      const kept = this.kept;
      this.kept = null;
      this.keptBytes = 0;
      if (kept !== null) for (const message of kept) connection.write(message);
      const finishing = this.finishing;
      this.finishing = null;
      if (finishing !== null) connection.finish(finishing.lingerMs, finishing.done);
    } catch (error) {
      if (events !== null) reportFault(events, 'peer connected', error);
      else log.error('internal error', { where: 'early peer connected', peer: this.address.text, error: errorMessage(error) });
    }
  }

  private startConnection(connection: PeerConnection, events: PeerEvents): void {
    this.started = true;
    connection.start(events);
  }

  private failed(error: Error): void {
    if (this.over) return;
    this.over = true;
    this.failure = error;
    const finishing = this.finishing;
    this.finishing = null;
    const events = this.events;
    try {
      if (finishing !== null) finishing.done(this.dropKept());
      else events?.peerError(error);
    } catch (thrown) {
      if (events !== null) reportFault(events, 'peer connect failed', thrown);
      else log.error('internal error', { where: 'early peer connect failed', peer: this.address.text, error: errorMessage(thrown) });
    }
  }

  private dropKept(): number {
    const bytes = this.keptBytes;
    this.kept = null;
    this.keptBytes = 0;
    return bytes;
  }
}
