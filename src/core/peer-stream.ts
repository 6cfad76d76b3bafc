/*
 * tcp and unix stream peers, on node:net. Socket events go to module-level handlers that find
 * their peer through a symbol on the socket: no closures per connection, which matters when
 * thousands sit idle. Every handler runs behind the guard, its owner the bridge.
 *
 * The socket is half-open capable: when the peer ends its side, the client may still have
 * messages in flight, and they are delivered. finish() flushes the write batch before end(),
 * so nothing the client sent just before closing is lost.
 */
import { connect, Socket, type OnReadOpts } from 'node:net';
import type { PeerAddress } from './peer-address.js';
import { PeerConnectError, reportEarlyError, type PeerConnection, type PeerEvents, type PeerProxyHeader } from './peer.js';
import { WriteBatch } from './write-batch.js';
import { connectAtOnce } from '../lib/connect-at-once.js';
import { socketFromDescriptor } from '../lib/descriptor-socket.js';
import { socketOptions } from '../lib/socket-options.js';
import { errorCode } from '../lib/errors.js';
import { reportFault } from '../lib/guard.js';
import { writeProxyHeader } from '../lib/proxy-header.js';

/**
 * Every peer reads into this one buffer: the bridge consumes each read before returning (the
 * WebSocket send and the framer's remainder both copy), so no read needs memory of its own, and
 * nothing is allocated or collected per read.
 */
const READ_BUFFER = Buffer.allocUnsafe(64 * 1024);

/** Every peer socket's `onread`: the shared buffer and the one callback. */
const SHARED_READ: OnReadOpts = { buffer: READ_BUFFER, callback: onRead };

const PEER = Symbol('websocksy.peer');
type PeerSocket = Socket & { [PEER]?: StreamPeer };

function onRead(this: PeerSocket, length: number, buffer: Uint8Array): boolean {
  const events = this[PEER]?.events;
  if (events == null) return true;
  try {
    events.peerData((buffer as Buffer).subarray(0, length));
  } catch (error) {
    reportFault(events, 'peer read', error);
  }
  return true;
}

function onEnd(this: PeerSocket): void {
  const events = this[PEER]?.events;
  if (events == null) return;
  try {
    events.peerEnd();
  } catch (error) {
    reportFault(events, 'peer end', error);
  }
}

/** Before the bridge starts, an error is kept for it; after, it is reported at once. */
function onError(this: PeerSocket, error: Error): void {
  const peer = this[PEER];
  if (peer === undefined) return;
  peer.failed = true;
  const events = peer.events;
  if (events === null) {
    peer.earlyError ??= error;
    return;
  }
  try {
    events.peerError(error);
  } catch (thrown) {
    reportFault(events, 'peer error', thrown);
  }
}

/** Everything written, the FIN included, went to the kernel. */
function onFinish(this: PeerSocket): void {
  this[PEER]?.reportFinished(0);
}

/** The socket closed: what it still held was never delivered. */
function onClose(this: PeerSocket): void {
  const peer = this[PEER];
  if (peer === undefined) return;
  peer.reportFinished(this.writableLength);
  peer.stopLinger();
}

function lingerExpired(peer: StreamPeer): void {
  peer.lingerExpired();
}

class StreamPeer implements PeerConnection {
  readonly droppedDatagrams = 0;
  events: PeerEvents | null = null;
  earlyError: Error | undefined;
  failed = false;
  private readonly batch: WriteBatch;
  /**
   * While finishing: who hears, once, how much the peer never took, and whom a throw there is
   * reported to. Fields and module-level handlers rather than closures per connection.
   */
  private finished: ((undelivered: number) => void) | null = null;
  private finishOwner: PeerEvents | null = null;
  private linger: NodeJS.Timeout | null = null;

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
    if (this.earlyError !== undefined) reportEarlyError(events, this.earlyError);
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

  finish(lingerMs: number, done: (undelivered: number) => void): void {
    const socket = this.socket;
    this.finishOwner = this.events;
    this.events = null;
    this.finished = done;
    if (this.failed || socket.destroyed) {
      this.reportFinished(this.destroy());
      return;
    }
    // A peer that takes nothing, or never closes its side after taking everything, must not
    // keep the socket: the linger runs until the socket closes, not just until it has flushed.
    this.linger = setTimeout(lingerExpired, lingerMs, this);
    this.linger.unref();
    socket.on('finish', onFinish);
    socket.on('close', onClose);
    // Reading on drains what the peer still sends (nobody takes it now) until it closes too.
    socket.resume();
    this.batch.flush();
    socket.end();
  }

  /** Tells finish()'s caller how much the peer never took; only the first report counts. */
  reportFinished(undelivered: number): void {
    const done = this.finished;
    if (done === null) return;
    this.finished = null;
    try {
      done(undelivered);
    } catch (error) {
      if (this.finishOwner !== null) reportFault(this.finishOwner, 'peer finish', error);
    }
  }

  lingerExpired(): void {
    this.linger = null;
    this.reportFinished(this.socket.writableLength);
    this.socket.destroy();
  }

  stopLinger(): void {
    if (this.linger !== null) clearTimeout(this.linger);
    this.linger = null;
  }

  destroy(): number {
    this.events = null;
    const undelivered = this.batch.discard() + this.socket.writableLength;
    this.socket.destroy();
    return undelivered;
  }
}

/** What a stream socket needs once connected, before the bridge starts: the same for both ways of connecting. */
function connected(address: PeerAddress, socket: PeerSocket, proxy: PeerProxyHeader | null): StreamPeer {
  if (address.transport === 'tcp') socket.setNoDelay(true);
  // Before the bridge starts, so before any byte of the client's.
  if (proxy !== null) writeProxyHeader(socket, proxy.version, proxy.clientAddress);
  return new StreamPeer(address, socket);
}

/**
 * A peer on this host connected inside this call (lib/connect-at-once.ts): the peer, the
 * refusal node:net would have given, or null where the connect did not settle at once (the
 * caller then connects the usual way).
 */
export function connectStreamPeerAtOnce(address: PeerAddress, proxy: PeerProxyHeader | null): PeerConnection | PeerConnectError | null {
  const outcome = connectAtOnce(address);
  if (outcome.state === 'unsettled') return null;
  if (outcome.state === 'refused') return new PeerConnectError(address, false, outcome.code);
  // Paused: nothing is read before the bridge starts.
  const socket: PeerSocket = socketFromDescriptor(outcome.fd, 'path' in address ? 'unix' : 'tcp', SHARED_READ);
  return connected(address, socket, proxy);
}

export function connectStreamPeer(address: PeerAddress, timeoutMs: number, proxy: PeerProxyHeader | null): Promise<PeerConnection> {
  return new Promise((resolve, reject) => {
    const socket: PeerSocket =
      'path' in address
        ? connect(socketOptions({ path: address.path, onread: SHARED_READ, allowHalfOpen: true }))
        : connect(socketOptions({ host: address.host, port: address.port, onread: SHARED_READ, allowHalfOpen: true }));
    // Nothing is read before the bridge starts: data that came early waits in the kernel.
    socket.pause();
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new PeerConnectError(address, true, `no answer within ${timeoutMs} ms`));
    }, timeoutMs);
    const fail = (error: Error): void => {
      clearTimeout(timer);
      reject(new PeerConnectError(address, false, errorCode(error)));
    };
    socket.once('error', fail);
    socket.once('connect', () => {
      clearTimeout(timer);
      socket.off('error', fail);
      resolve(connected(address, socket, proxy));
    });
  });
}
