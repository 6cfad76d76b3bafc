/*
 * unix-dgram peers through the `unix-dgram` package (node:dgram has no AF_UNIX). The socket is
 * bound to a private path so the peer can answer; the path is removed on close. Datagrams the
 * kernel refuses for lack of buffer space are copied, queued and resent when the socket is
 * writable; the others go out from the client's message where it lies.
 */
import { unlink } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createSocket, type UnixDgramSocket } from 'unix-dgram';
import type { PeerAddress } from './peer-address.js';
import { DatagramPeer } from './peer-datagram.js';
import { PeerConnectError, type PeerConnection } from './peer.js';
import { errorCode } from '../lib/errors.js';
import { log } from '../lib/log.js';

let socketCount = 0;

class UnixDgramPeer extends DatagramPeer {
  queuedBytes = 0;
  private closed = false;
  private readonly queue: Buffer[] = [];

  constructor(
    address: PeerAddress,
    private readonly socket: UnixDgramSocket,
    private readonly localPath: string,
  ) {
    super(address);
    socket.on('error', this.fail);
    socket.on('message', this.deliver);
    socket.on('writable', this.flushQueue);
  }

  /**
   * `message` is the client's, valid during this call only. unix-dgram sends synchronously and
   * calls back before `send` returns (2.0.7, pinned): unless the kernel refused the datagram for
   * lack of room, it has the bytes by then, and only a refused datagram is copied, to wait for
   * 'writable'. A copy of every datagram, each a Buffer of its own, kept a websocksy that had
   * sat idle in mark-compacts (lib/buffer-pool.ts says why).
   */
  write(message: Uint8Array): void {
    if (this.queue.length > 0) {
      this.enqueue(Buffer.copyBytesFrom(message));
      return;
    }
    this.socket.send(Buffer.from(message.buffer, message.byteOffset, message.byteLength), (error) => {
      if (error?.message === 'congestion') this.enqueue(Buffer.copyBytesFrom(message));
      else if (error !== undefined) this.fail(error);
    });
  }

  protected close(): number {
    if (this.closed) return 0;
    this.closed = true;
    const undelivered = this.queuedBytes;
    this.queue.length = 0;
    this.queuedBytes = 0;
    this.socket.close();
    unlink(this.localPath, (error) => {
      if (error !== null && error.code !== 'ENOENT') log.warn('cannot remove unix-dgram socket', { path: this.localPath, error: error.code ?? error.message });
    });
    return undelivered;
  }

  private enqueue(data: Buffer): void {
    this.queue.push(data);
    this.queuedBytes += data.length;
  }

  private readonly flushQueue = (): void => {
    while (!this.closed && this.queue.length > 0) {
      const next = this.queue[0] as Buffer;
      let congested = false;
      this.socket.send(next, (error) => {
        if (error?.message === 'congestion') congested = true;
        else if (error !== undefined) this.fail(error);
      });
      if (congested) return;
      this.queue.shift();
      this.queuedBytes -= next.length;
    }
    this.sent();
  };
}

export function connectUnixDgramPeer(address: PeerAddress): Promise<PeerConnection> {
  if (address.transport !== 'unix-dgram') throw new TypeError(`not a unix-dgram address: ${address.text}`);
  const localPath = join(tmpdir(), `websocksy-${process.pid}-${++socketCount}.sock`);
  const socket = createSocket('unix_dgram');
  let failure: Error | undefined;
  // bind and connect report synchronously through 'error'.
  const onError = (error: Error): void => {
    failure ??= error;
  };
  socket.on('error', onError);
  socket.bind(localPath);
  if (failure === undefined) socket.connect(address.path);
  socket.removeListener('error', onError);
  if (failure !== undefined) {
    socket.close();
    unlink(localPath, () => undefined);
    return Promise.reject(new PeerConnectError(address, false, errorCode(failure)));
  }
  return Promise.resolve(new UnixDgramPeer(address, socket, localPath));
}
