/*
 * What udp and unix-dgram peers share: a datagram socket cannot be paused, so while the client
 * is congested incoming datagrams are dropped and counted, as a congested network would. Socket
 * callbacks run behind the guard, their owner the bridge. finish() waits (bounded) until every
 * datagram handed over has left, then closes.
 */
import type { PeerAddress } from './peer-address.js';
import type { PeerConnection, PeerEvents } from './peer.js';
import { reportFault } from '../lib/guard.js';

export abstract class DatagramPeer implements PeerConnection {
  droppedDatagrams = 0;
  protected events: PeerEvents | null = null;
  private paused = false;
  private finishing: { readonly done: (undelivered: number) => void; readonly timer: NodeJS.Timeout } | null = null;
  /** Who to blame when a callback throws, still known while finishing. */
  private owner: PeerEvents | null = null;

  constructor(readonly address: PeerAddress) {}

  abstract write(message: Uint8Array): void;
  /** Bytes handed to write() that have not left yet. */
  abstract get queuedBytes(): number;
  /** Closes the socket; returns the bytes that had not left. */
  protected abstract close(): number;

  start(events: PeerEvents): void {
    this.events = events;
    this.owner = events;
  }

  pause(): void {
    this.paused = true;
  }

  resume(): void {
    this.paused = false;
  }

  finish(lingerMs: number, done: (undelivered: number) => void): void {
    this.events = null;
    if (this.queuedBytes === 0) {
      this.report(done, this.close());
      return;
    }
    const timer = setTimeout(() => this.settle(), lingerMs);
    timer.unref();
    this.finishing = { done, timer };
  }

  destroy(): number {
    this.events = null;
    const finishing = this.finishing;
    this.finishing = null;
    if (finishing !== null) clearTimeout(finishing.timer);
    return this.close();
  }

  /** Subclasses call this when a datagram left: a finishing peer may be done. */
  protected sent(): void {
    if (this.finishing !== null && this.queuedBytes === 0) this.settle();
  }

  private settle(): void {
    const finishing = this.finishing;
    if (finishing === null) return;
    this.finishing = null;
    clearTimeout(finishing.timer);
    this.report(finishing.done, this.close());
  }

  private report(done: (undelivered: number) => void, undelivered: number): void {
    try {
      done(undelivered);
    } catch (error) {
      if (this.owner !== null) reportFault(this.owner, 'peer finish', error);
    }
  }

  /** Hands one received datagram to the bridge, unless the client is congested. */
  protected readonly deliver = (message: Buffer): void => {
    const events = this.events;
    if (events === null) return;
    if (this.paused) {
      this.droppedDatagrams++;
      return;
    }
    try {
      events.peerData(message);
    } catch (error) {
      reportFault(events, 'peer read', error);
    }
  };

  protected readonly fail = (error: Error): void => {
    const events = this.events;
    if (events === null) {
      // Finishing: nothing more will leave.
      this.settle();
      return;
    }
    try {
      events.peerError(error);
    } catch (thrown) {
      reportFault(events, 'peer error', thrown);
    }
  };
}
