/* udp peers: a connected node:dgram socket, one datagram per client message. */
import { createSocket, type Socket } from 'node:dgram';
import { lookup } from 'node:dns/promises';
import type { PeerAddress } from './peer-address.js';
import { DatagramPeer } from './peer-datagram.js';
import { PeerConnectError, type PeerConnection } from './peer.js';

class UdpPeer extends DatagramPeer {
  private closed = false;

  constructor(
    address: PeerAddress,
    private readonly socket: Socket,
  ) {
    super(address);
    // An ICMP "port unreachable" surfaces as an error on the connected socket.
    socket.on('error', this.fail);
    socket.on('message', this.deliver);
  }

  write(message: Uint8Array): void {
    this.socket.send(Buffer.copyBytesFrom(message));
  }

  get queuedBytes(): number {
    return this.socket.getSendQueueSize();
  }

  destroy(): void {
    if (this.closed) return;
    this.closed = true;
    this.events = null;
    this.socket.removeAllListeners('message');
    this.socket.close();
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
