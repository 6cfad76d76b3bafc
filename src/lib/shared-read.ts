/*
 * TCP connections that read into one buffer shared by the whole process (net's `onread`)
 * instead of a fresh 64 KiB buffer per read, each read handed to the socket's 'data' listeners
 * as a view of it: valid only during the call. Their readers copy what they keep at once (into
 * a data frame, a pooled buffer), so a busy tunnel allocates nothing per read; see
 * tunnel/buffer-pool.ts for why that matters. One read runs at a time on the JS thread, and nothing
 * reads the buffer after its listeners return, so one buffer serves every socket.
 */
import { connect, type OnReadOpts, type Socket, type TcpNetConnectOpts } from 'node:net';
import { pausedSocketOnHandle } from './descriptor-socket.js';
import { socketOptions } from './socket-options.js';

/** One read at most: the tunnel's largest data payload, so that a read fills one data frame. */
const READ_SIZE = 64 * 1024;
const readBuffer = Buffer.allocUnsafeSlow(READ_SIZE);

/** The `onread` that hands each read of `socket()` to its 'data' listeners as a view of the shared buffer. */
function sharedRead(socket: () => Socket): OnReadOpts {
  return {
    buffer: readBuffer,
    callback: (bytes: number, buffer: Uint8Array): boolean => {
      socket().emit('data', Buffer.from(buffer.buffer, buffer.byteOffset, bytes));
      return true;
    },
  };
}

/** net.connect whose 'data' chunks are views of the shared read buffer. */
export function connectSharedRead(options: Omit<TcpNetConnectOpts, 'onread'>): Socket {
  const socket: Socket = connect(socketOptions(options, { onread: sharedRead(() => socket) }));
  return socket;
}

/**
 * An accepted connection (net.Server's, created paused: `pauseOnConnect`) made to read into the
 * shared buffer. net.Server has no `onread`: each read of a connection it accepts lands in a
 * fresh 64 KiB buffer, which made a tunnel client (whose local forwards are such connections)
 * run a full collection every ~20 MB carried (bench/README.md). Its handle moves to a new
 * net.Socket made with `onread`, as net.Server would make it, still paused; the accepted
 * Socket, left without a handle, is destroyed, which also ends the server's count of it.
 * `_handle` is Node's own field: where it is not what this expects, the connection is
 * returned as it came (reads then allocate, nothing else changes), and
 * test/shared-read.test.ts checks on every Node the matrix runs that it is.
 */
export function adoptSharedRead(accepted: Socket): Socket {
  const internal = accepted as unknown as { _handle?: unknown };
  const handle = internal._handle;
  if (accepted.destroyed || typeof handle !== 'object' || handle === null || typeof (handle as { readStart?: unknown }).readStart !== 'function') return accepted;
  const socket: Socket = pausedSocketOnHandle(handle, accepted.allowHalfOpen, sharedRead(() => socket));
  internal._handle = null;
  accepted.destroy();
  return socket;
}
