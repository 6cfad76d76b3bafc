/* udp peers: a connected node:dgram socket, one datagram per client message. */
import { createSocket, type Socket } from 'node:dgram';
import { lookup } from 'node:dns/promises';
import type { PeerAddress } from './peer-address.js';
import { PeerConnectError, type PeerConnection, type PeerEvents } from './peer.js';

class UdpPeer implements PeerConnection {
  droppedDatagrams = 0;
  private paused = false;
  private events: PeerEvents | null = null;

  constructor(
    readonly address: PeerAddress,
    private readonly socket: Socket,
  ) {
    // An ICMP "port unreachable" surfaces as an error on the connected socket.
    socket.on('error', (error) => this.events?.error(error));
    socket.on('message', (message) => {
      if (this.paused) this.droppedDatagrams++;
      else this.events?.data(message);
    });
  }

  start(events: PeerEvents): void {
    this.events = events;
  }

  write(data: Buffer): void {
    this.socket.send(data);
  }

  get queuedBytes(): number {
    return this.socket.getSendQueueSize();
  }

  pause(): void {
    this.paused = true;
  }

  resume(): void {
    this.paused = false;
  }

  end(): void {
    this.destroy();
  }

  destroy(): void {
    this.events = null;
    this.socket.removeAllListeners('message');
    try {
      this.socket.close();
    } catch {
      // Already closed: nothing left to release.
    }
  }
}

export async function connectUdpPeer(address: PeerAddress, timeoutMs: number): Promise<PeerConnection> {
  if (address.transport !== 'udp') throw new TypeError(`not a udp address: ${address.text}`);
  let resolved;
  try {
    resolved = await lookup(address.host);
  } catch (error) {
    throw new PeerConnectError(address, false, (error as NodeJS.ErrnoException).code ?? String(error));
  }
  const socket = createSocket(resolved.family === 6 ? 'udp6' : 'udp4');
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      socket.close();
      reject(new PeerConnectError(address, true, `no answer within ${timeoutMs} ms`));
    }, timeoutMs);
    socket.once('error', (error: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      socket.close();
      reject(new PeerConnectError(address, false, error.code ?? error.message));
    });
    socket.connect(address.port, resolved.address, () => {
      clearTimeout(timer);
      socket.removeAllListeners('error');
      resolve(new UdpPeer(address, socket));
    });
  });
}
