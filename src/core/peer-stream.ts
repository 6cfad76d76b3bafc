/*
 * tcp and unix stream peers, on node:net. Socket events go to module-level handlers that find
 * their peer through a symbol on the socket: no closures per connection, which matters when
 * thousands sit idle.
 */
import { connect, type Socket } from 'node:net';
import type { PeerAddress } from './peer-address.js';
import { PeerConnectError, type PeerConnection, type PeerEvents } from './peer.js';
import { WriteBatch } from './write-batch.js';

/**
 * Every peer reads into this one buffer: the bridge consumes each read before returning (the
 * WebSocket send and the framer's remainder both copy), so no read needs memory of its own, and
 * nothing is allocated or collected per read.
 */
const READ_BUFFER = Buffer.allocUnsafe(64 * 1024);

const PEER = Symbol('websocksy.peer');
type PeerSocket = Socket & { [PEER]?: StreamPeer };

function onRead(this: PeerSocket, length: number, buffer: Uint8Array): boolean {
  this[PEER]?.events?.peerData((buffer as Buffer).subarray(0, length));
  return true;
}

function onEnd(this: PeerSocket): void {
  this[PEER]?.events?.peerEnd();
}

/** Before the bridge starts, an error is kept for it; after, it is reported at once. */
function onError(this: PeerSocket, error: Error): void {
  const peer = this[PEER];
  if (peer === undefined) return;
  if (peer.events === null) peer.earlyError ??= error;
  else peer.events.peerError(error);
}

function destroySocket(this: Socket): void {
  this.destroy();
}

class StreamPeer implements PeerConnection {
  readonly droppedDatagrams = 0;
  events: PeerEvents | null = null;
  earlyError: Error | undefined;
  private readonly batch: WriteBatch;

  constructor(
    readonly address: PeerAddress,
    private readonly socket: PeerSocket,
  ) {
    this.batch = new WriteBatch(socket);
    socket[PEER] = this;
    socket.on('end', onEnd);
    socket.on('error', onError);
  }

  start(events: PeerEvents): void {
    this.events = events;
    this.socket.resume();
    const early = this.earlyError;
    if (early !== undefined) queueMicrotask(() => events.peerError(early));
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
    this.events = null;
    socket.off('error', onError);
    socket.on('error', destroySocket);
    socket.resume();
    // A peer that never closes its side must not keep the socket forever.
    const timer = setTimeout(() => socket.destroy(), lingerMs);
    timer.unref();
    socket.once('close', () => clearTimeout(timer));
    socket.end();
  }

  destroy(): void {
    this.events = null;
    this.batch.discard();
    this.socket.destroy();
  }
}

export function connectStreamPeer(address: PeerAddress, timeoutMs: number): Promise<PeerConnection> {
  return new Promise((resolve, reject) => {
    const onread = { buffer: READ_BUFFER, callback: onRead };
    const socket: PeerSocket =
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
      resolve(new StreamPeer(address, socket));
    });
  });
}
