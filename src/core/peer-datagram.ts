/*
 * What udp and unix-dgram peers share: a datagram socket cannot be paused, so while the client
 * is congested incoming datagrams are dropped and counted, as a congested network would.
 */
import type { PeerAddress } from './peer-address.js';
import type { PeerConnection, PeerEvents } from './peer.js';

export abstract class DatagramPeer implements PeerConnection {
  droppedDatagrams = 0;
  protected events: PeerEvents | null = null;
  private paused = false;

  constructor(readonly address: PeerAddress) {}

  abstract write(message: Uint8Array): void;
  abstract get queuedBytes(): number;
  abstract destroy(): void;

  start(events: PeerEvents): void {
    this.events = events;
  }

  pause(): void {
    this.paused = true;
  }

  resume(): void {
    this.paused = false;
  }

  /** Datagrams have nothing to flush: closing is immediate. */
  end(): void {
    this.destroy();
  }

  /** Hands one received datagram to the bridge, unless the client is congested. */
  protected readonly deliver = (message: Buffer): void => {
    if (this.paused) this.droppedDatagrams++;
    else this.events?.peerData(message);
  };

  protected readonly fail = (error: Error): void => {
    this.events?.peerError(error);
  };
}
