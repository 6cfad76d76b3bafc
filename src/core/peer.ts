/*
 * A bridge's network peer, whatever its transport. Stream peers (tcp, unix) are paused for
 * backpressure; datagram peers (udp, unix-dgram) cannot be, so while paused they drop incoming
 * datagrams and count them, as a congested network would.
 */
import type { PeerAddress } from './peer-address.js';
import { connectStreamPeer, connectStreamPeerAtOnce } from './peer-stream.js';
import { connectUdpPeer } from './peer-udp.js';
import { connectUnixDgramPeer } from './peer-unix-dgram.js';
import { isHostLimit } from '../lib/errors.js';
import { reportFault, type Guarded } from '../lib/guard.js';
import type { ProxyVersion } from '../lib/proxy-header.js';

/**
 * What a peer reports to its bridge (the bridge implements these as methods, no closures). It
 * is also the guard's owner for the peer's socket callbacks: a throw in one closes this bridge.
 */
export interface PeerEvents extends Guarded {
  /** Bytes read; `chunk` is only valid during the call. */
  peerData(chunk: Buffer): void;
  /** The peer closed its side (stream EOF); what the client still sends is delivered. */
  peerEnd(): void;
  peerError(error: Error): void;
}

export interface PeerConnection {
  readonly address: PeerAddress;
  /** Starts delivering data and events; nothing is read before this. */
  start(events: PeerEvents): void;
  /**
   * Sends one client message: bytes on a stream, one datagram on datagram peers. `message` is
   * only valid during the call (it is uWS's receive buffer): the peer copies what it keeps.
   */
  write(message: Uint8Array): void;
  /** Bytes accepted by write() and not yet handed to the kernel. */
  readonly queuedBytes: number;
  /** Datagrams dropped because the client was congested. */
  readonly droppedDatagrams: number;
  pause(): void;
  resume(): void;
  /**
   * Delivers everything written so far, then closes (streams half-close and wait for the peer,
   * up to `lingerMs`). `done` runs once, with the bytes that could not be delivered (0 when all were).
   */
  finish(lingerMs: number, done: (undelivered: number) => void): void;
  /** Closes now; returns the bytes written but not delivered. */
  destroy(): number;
}

/**
 * Reports an error that came before the bridge started, once its start() has returned (the
 * bridge is not ready to close from inside it), behind the guard.
 */
export function reportEarlyError(events: PeerEvents, error: Error): void {
  queueMicrotask(() => {
    try {
      events.peerError(error);
    } catch (thrown) {
      reportFault(events, 'peer error', thrown);
    }
  });
}

/** A peer that did not answer in time, refused, or could not be resolved; or this host could not open a socket to it. */
export class PeerConnectError extends Error {
  /** The connect failed on this host's own limits (isHostLimit), not the peer's. */
  readonly hostLimit: boolean;

  constructor(
    readonly address: PeerAddress,
    readonly timedOut: boolean,
    cause: string,
  ) {
    super(`cannot connect to ${address.text}: ${cause}`);
    this.name = 'PeerConnectError';
    this.hostLimit = !timedOut && isHostLimit(cause);
  }
}

/** A PROXY protocol header to send before any data (stream peers only). */
export interface PeerProxyHeader {
  readonly version: ProxyVersion;
  readonly clientAddress: string;
}

/**
 * A tcp peer on this host's loopback or a unix stream peer, connected inside this call
 * (peer-stream.ts): the peer, or the refusal node:net would give, or null where that cannot be
 * known at once (any other peer, a connect still under way): connect with connectPeer then.
 */
export function connectPeerAtOnce(address: PeerAddress, proxy: PeerProxyHeader | null = null): PeerConnection | PeerConnectError | null {
  return address.transport === 'tcp' || address.transport === 'unix' ? connectStreamPeerAtOnce(address, proxy) : null;
}

/** Connects to `address`; a stream peer gets `proxy`'s header first (bridge-opener.ts refuses it for datagram peers). */
export function connectPeer(address: PeerAddress, timeoutMs: number, proxy: PeerProxyHeader | null = null): Promise<PeerConnection> {
  switch (address.transport) {
    case 'tcp':
    case 'unix':
      return connectStreamPeer(address, timeoutMs, proxy);
    case 'udp':
      return connectUdpPeer(address, timeoutMs);
    case 'unix-dgram':
      return connectUnixDgramPeer(address);
  }
}
