/* tcp and unix stream peers, on node:net. */
import { connect, type Socket } from 'node:net';
import type { PeerAddress } from './peer-address.js';
import { PeerConnectError, type PeerConnection, type PeerEvents } from './peer.js';

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

class StreamPeer implements PeerConnection {
  readonly droppedDatagrams = 0;
  private readonly takeEarlyError: () => Error | undefined;
  private corked = false;

  constructor(
    readonly address: PeerAddress,
    private readonly socket: Socket,
  ) {
    this.takeEarlyError = holdEarlyError(socket);
  }

  start(events: PeerEvents): void {
    const socket = this.socket;
    const early = this.takeEarlyError();
    socket.on('data', events.data);
    socket.on('end', events.end);
    socket.on('error', events.error);
    if (early !== undefined) queueMicrotask(() => events.error(early));
  }

  /**
   * Client messages arrive many per loop turn (uWS parses a whole read at once); writing each
   * alone costs a syscall and a TCP segment apiece. Corked until the loop's check phase, all of a
   * turn's messages leave in one writev.
   */
  write(data: Buffer): void {
    if (!this.corked) {
      this.corked = true;
      this.socket.cork();
      setImmediate(this.uncork);
    }
    this.socket.write(data);
  }

  private readonly uncork = (): void => {
    this.corked = false;
    this.socket.uncork();
  };

  get queuedBytes(): number {
    return this.socket.writableLength;
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
    for (const event of ['data', 'end', 'error']) socket.removeAllListeners(event);
    socket.resume();
    // A peer that never closes its side must not keep the socket forever.
    const timer = setTimeout(() => socket.destroy(), lingerMs);
    timer.unref();
    socket.once('close', () => clearTimeout(timer));
    socket.on('error', () => socket.destroy());
    socket.end();
  }

  destroy(): void {
    this.takeEarlyError();
    this.socket.destroy();
  }
}

export function connectStreamPeer(address: PeerAddress, timeoutMs: number): Promise<PeerConnection> {
  return new Promise((resolve, reject) => {
    const socket =
      'path' in address ? connect({ path: address.path }) : connect({ host: address.host, port: address.port });
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
