/*
 * A net.Socket around a connected stream descriptor (lib/connect-at-once.ts makes them), paused.
 * `new Socket({ fd })` asks the kernel what the descriptor is, every time: isatty, fstat,
 * getsockname and SO_TYPE, four system calls, a tenth of all a bridged connection makes. The
 * caller knows already (a TCP or a unix socket). Once one socket of a kind has been made that
 * way, its handle's class is known, and later descriptors of that kind get a handle of the class
 * directly, passed as `handle` (the option net.Server uses for the connections it accepts;
 * shared-read.ts moves accepted connections' handles with the same
 * `pausedSocketOnHandle`). `_handle` is Node's own field: where it is not what this expects, or
 * a handle cannot take the descriptor, the socket is made from `{ fd }` as before, and
 * test/descriptor-socket.test.ts checks on every Node the matrix runs that the handle path is
 * the one taken.
 */
import { Socket, type OnReadOpts, type SocketConstructorOpts } from 'node:net';
import { socketOptions } from './socket-options.js';

export type DescriptorKind = 'tcp' | 'unix';

interface StreamHandle {
  open(fd: number): number;
  close(): void;
}

type StreamHandleClass = new (type: number) => StreamHandle;

/** What net.Socket's constructor takes besides the documented options: the two net.Server passes for a connection it accepted. */
interface HandleSocketOptions extends SocketConstructorOpts {
  readonly onread: OnReadOpts;
  readonly handle: object;
  readonly pauseOnCreate: boolean;
}

/** TCPConstants.SOCKET and PipeConstants.SOCKET: a handle for a connection, not a listener. */
const CONNECTION_HANDLE = 0;

const handleClasses: Record<DescriptorKind, StreamHandleClass | null> = { tcp: null, unix: null };

/** The class of `socket`'s handle, when it is one this can make and open. */
function handleClassOf(socket: Socket): StreamHandleClass | null {
  const handle = (socket as unknown as { _handle?: unknown })._handle;
  if (typeof handle !== 'object' || handle === null) return null;
  const candidate: unknown = handle.constructor;
  if (typeof candidate !== 'function' || typeof (candidate.prototype as { open?: unknown } | undefined)?.open !== 'function') return null;
  return candidate as StreamHandleClass;
}

/** A paused socket on `handle` (a libuv stream handle of node's), as net.Server makes one for a connection it accepted, reading into `onread`. */
export function pausedSocketOnHandle(handle: object, allowHalfOpen: boolean, onread: OnReadOpts): Socket {
  const options: HandleSocketOptions = { handle, pauseOnCreate: true, readable: true, writable: true, allowHalfOpen, onread };
  return new Socket(socketOptions(options));
}

/** A paused socket reading into `onread` that owns `fd` from now on. */
export function socketFromDescriptor(fd: number, kind: DescriptorKind, onread: OnReadOpts): Socket {
  const known = handleClasses[kind];
  if (known !== null) {
    const handle = new known(CONNECTION_HANDLE);
    if (handle.open(fd) === 0) return pausedSocketOnHandle(handle, true, onread);
    handle.close();
  }
  const socket = new Socket(socketOptions({ fd, readable: true, writable: true, allowHalfOpen: true, onread } as SocketConstructorOpts));
  // A socket made from a descriptor starts reading at once; pause() stops that read in the same turn.
  socket.pause();
  handleClasses[kind] = handleClassOf(socket);
  return socket;
}

/** True once sockets of `kind` are made from their handle's class (for the tests). */
export function makesHandlesFor(kind: DescriptorKind): boolean {
  return handleClasses[kind] !== null;
}
