/* tcp and unix stream peers, on node:net. */
import { connect, type Socket } from 'node:net';
import type { PeerAddress } from './peer-address.js';
import { PeerConnectError, type PeerConnection, type PeerEvents } from './peer.js';
import { WriteBatch } from './write-batch.js';

/** Keeps an error that happens between connect and start(), to be reported by start(). */
function holdEarlyError(socket: Socket): () => Error | undefined {
  let early: Error | undefined;
  const hold = (error: Error): void => {
    early ??= error;
  };
  socket.on('error', hold);
  return () => {
    socket.off('error', hold);
    return early;
  };
}

/**
 * Every peer reads into this one buffer: the bridge consumes each read before returning (the
 * WebSocket send and the framer's remainder both copy), so no read needs memory of its own, and
 * nothing is allocated or collected per read.
 */
const READ_BUFFER = Buffer.allocUnsafe(64 * 1024);

/** Routes a socket's reads to its bridge, once there is one. */
interface ReadTarget {
  data: ((chunk: Buffer) => void) | null;
}

class StreamPeer implements PeerConnection {
  readonly droppedDatagrams = 0;
  private readonly takeEarlyError: () => Error | undefined;
  private readonly batch: WriteBatch;

  constructor(
    readonly address: PeerAddress,
    private readonly socket: Socket,
    private readonly reads: ReadTarget,
  ) {
    this.takeEarlyError = holdEarlyError(socket);
    this.batch = new WriteBatch(socket);
  }

  start(events: PeerEvents): void {
    const socket = this.socket;
    const early = this.takeEarlyError();
    this.reads.data = events.data;
    socket.on('end', events.end);
    socket.on('error', events.error);
    socket.resume();
    if (early !== undefined) queueMicrotask(() => events.error(early));
  }

  write(message: Uint8Array): void {
    this.batch.add(message);
  }

  get queuedBytes(): number {
    return this.socket.writableLength + this.batch.pendingBytes;
  }

  pause(): void {
    this.socket.pause();
  }

  resume(): void {
    this.socket.resume();
  }

  end(lingerMs: number): void {
    const socket = this.socket;
    this.takeEarlyError();
    this.reads.data = null;
    for (const event of ['end', 'error']) socket.removeAllListeners(event);
    socket.resume();
    // A peer that never closes its side must not keep the socket forever.
    const timer = setTimeout(() => socket.destroy(), lingerMs);
    timer.unref();
    socket.once('close', () => clearTimeout(timer));
    socket.on('error', () => socket.destroy());
    socket.end();
  }

  destroy(): void {
    this.batch.discard();
    this.takeEarlyError();
    this.socket.destroy();
  }
}

export function connectStreamPeer(address: PeerAddress, timeoutMs: number): Promise<PeerConnection> {
  return new Promise((resolve, reject) => {
    const reads: ReadTarget = { data: null };
    const onread = {
      buffer: READ_BUFFER,
      callback: (length: number, buffer: Uint8Array): boolean => {
        reads.data?.((buffer as Buffer).subarray(0, length));
        return true;
      },
    };
    const socket =
      'path' in address ? connect({ path: address.path, onread }) : connect({ host: address.host, port: address.port, onread });
    // Nothing is read before the bridge starts: data that came early waits in the kernel.
    socket.pause();
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new PeerConnectError(address, true, `no answer within ${timeoutMs} ms`));
    }, timeoutMs);
    const fail = (error: NodeJS.ErrnoException): void => {
      clearTimeout(timer);
      reject(new PeerConnectError(address, false, error.code ?? error.message));
    };
    socket.once('error', fail);
    socket.once('connect', () => {
      clearTimeout(timer);
      socket.off('error', fail);
      if (address.transport === 'tcp') socket.setNoDelay(true);
      resolve(new StreamPeer(address, socket, reads));
    });
  });
}
