/*
 * udp peers: a connected node:dgram socket, one datagram per client message. A datagram counts
 * as queued until node:dgram's send callback says it left, so that a closing bridge waits for it.
 * The copies of client messages share pooled slabs (lib/slab.ts): a Buffer of its own for each
 * had 8 KiB datagrams at ~300 MB/s run a mark-compact every ~70 ms in a websocksy that had sat
 * idle first (lib/buffer-pool.ts says why).
 */
import { createSocket, type Socket } from 'node:dgram';
import { lookup } from 'node:dns/promises';
import type { PeerAddress } from './peer-address.js';
import { DatagramPeer } from './peer-datagram.js';
import { PeerConnectError, type PeerConnection } from './peer.js';
import { BufferPool } from '../lib/buffer-pool.js';
import { errorCode } from '../lib/errors.js';
import { Slab } from '../lib/slab.js';

/** Room for two of the largest datagrams (64 KiB); at most 8 spare (2 MiB). */
const SLAB_BYTES = 128 * 1024;
const slabMemory = new BufferPool(SLAB_BYTES, 8);
let current = new Slab(slabMemory);

function slabWithRoom(length: number): Slab {
  if (length > current.room) {
    current.retire();
    current = new Slab(slabMemory);
  }
  return current;
}

class UdpPeer extends DatagramPeer {
  queuedBytes = 0;
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
    const length = message.length;
    this.queuedBytes += length;
    // No datagram is this large (node:dgram refuses it with EMSGSIZE): a copy of its own.
    const slab = length <= SLAB_BYTES ? slabWithRoom(length) : null;
    const data = slab === null ? Buffer.copyBytesFrom(message) : slab.view(slab.append(message));
    this.socket.send(data, (error) => {
      slab?.written();
      this.queuedBytes -= length;
      if (error != null) this.fail(error);
      else this.sent();
    });
  }

  protected close(): number {
    if (this.closed) return 0;
    this.closed = true;
    const undelivered = this.queuedBytes;
    this.socket.removeAllListeners('message');
    this.socket.close();
    return undelivered;
  }
}

export async function connectUdpPeer(address: PeerAddress, timeoutMs: number): Promise<PeerConnection> {
  if (address.transport !== 'udp') throw new TypeError(`not a udp address: ${address.text}`);
  let resolved;
  try {
    resolved = await lookup(address.host);
  } catch (error) {
    throw new PeerConnectError(address, false, errorCode(error));
  }
  const socket = createSocket(resolved.family === 6 ? 'udp6' : 'udp4');
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      socket.close();
      reject(new PeerConnectError(address, true, `no answer within ${timeoutMs} ms`));
    }, timeoutMs);
    socket.once('error', (error: Error) => {
      clearTimeout(timer);
      socket.close();
      reject(new PeerConnectError(address, false, errorCode(error)));
    });
    socket.connect(address.port, resolved.address, () => {
      clearTimeout(timer);
      socket.removeAllListeners('error');
      resolve(new UdpPeer(address, socket));
    });
  });
}
