/*
 * A stream connect that settles inside the call, for peers on this host. node:net reports a
 * connect on a later turn of the event loop, even when the kernel had finished it within the
 * `connect` system call, as it does for a loopback TCP handshake or a unix socket whose listener
 * has room: the bridge then answers the upgrade after uWS's handler returned, uncorked (21
 * sends instead of one: docs/engine.md, "Upgrades and corking"). Made here through libc, the
 * answer is known at once: connected (the descriptor, for `new net.Socket({ fd })`), refused
 * (the errno's name, as node:net would report it), or not settled yet, in which case nothing is
 * left open and the caller connects the usual way.
 *
 * Linux only (the constants are Linux's); koffi is loaded on first use, and where it cannot be,
 * every connect is "not settled" and goes the usual way.
 */
import { createRequire } from 'node:module';
import { isIPv4 } from 'node:net';
import { constants, endianness } from 'node:os';
import type Koffi from 'koffi';
import { errorMessage } from './errors.js';
import { log } from './log.js';

export type AtOnceConnect =
  | { readonly state: 'connected'; readonly fd: number }
  | { readonly state: 'refused'; readonly code: string }
  | { readonly state: 'unsettled' };

export type StreamTarget = { readonly host: string; readonly port: number } | { readonly path: string };

interface Libc {
  socket(domain: number, type: number, protocol: number): number;
  connect(fd: number, address: Buffer, length: number): number;
  getsockopt(fd: number, level: number, name: number, value: Buffer, length: Buffer): number;
  close(fd: number): number;
  errno(): number;
}

const AF_UNIX = 1;
const AF_INET = 2;
const AF_INET6 = 10;
const SOCK_STREAM = 1;
const SOCK_NONBLOCK = 0o4000;
const SOCK_CLOEXEC = 0o2000000;
const SOL_SOCKET = 1;
const SO_ERROR = 4;
const IPPROTO_TCP = 6;
const TCP_INFO = 11;
/** sun_path's size in struct sockaddr_un. */
const UNIX_PATH_MAX = 108;

const { EINPROGRESS, EAGAIN, EINTR } = constants.errno;
const UNSETTLED: AtOnceConnect = { state: 'unsettled' };
const LITTLE_ENDIAN = endianness() === 'LE';

/** errno numbers by name, reversed: the names node:net gives its errors (ECONNREFUSED, ENOENT). */
const ERRNO_NAMES = new Map<number, string>(Object.entries(constants.errno).map(([name, value]) => [value, name]));

let libc: Libc | null | undefined;

function loadLibc(): Libc | null {
  if (process.platform !== 'linux') return null;
  try {
    const koffi = createRequire(import.meta.url)('koffi') as typeof Koffi;
    const library = koffi.load('libc.so.6');
    return {
      socket: library.func('int socket(int domain, int type, int protocol)') as Libc['socket'],
      connect: library.func('int connect(int fd, const void *address, uint32_t length)') as Libc['connect'],
      getsockopt: library.func('int getsockopt(int fd, int level, int name, void *value, void *length)') as Libc['getsockopt'],
      close: library.func('int close(int fd)') as Libc['close'],
      errno: () => koffi.errno(),
    };
  } catch (error) {
    log.warn('peers on this host connect the usual way: libc is not reachable through koffi', { error: errorMessage(error) });
    return null;
  }
}

function family(buffer: Buffer, value: number): void {
  if (LITTLE_ENDIAN) buffer.writeUInt16LE(value, 0);
  else buffer.writeUInt16BE(value, 0);
}

/** struct sockaddr_in / sockaddr_in6 / sockaddr_un for `target`, or null where this does not connect. */
function socketAddress(target: StreamTarget): { readonly domain: number; readonly address: Buffer } | null {
  if ('path' in target) {
    const path = Buffer.from(target.path);
    // An abstract name (a leading NUL) is exactly its bytes; a path is NUL-terminated.
    const abstract = path[0] === 0;
    if (path.length === 0 || path.length + (abstract ? 0 : 1) > UNIX_PATH_MAX) return null;
    const address = Buffer.alloc(2 + path.length + (abstract ? 0 : 1));
    family(address, AF_UNIX);
    path.copy(address, 2);
    return { domain: AF_UNIX, address };
  }
  // Only this host's: elsewhere a handshake takes a round trip, never settled within the call.
  if (target.host.startsWith('127.') && isIPv4(target.host)) {
    const address = Buffer.alloc(16);
    family(address, AF_INET);
    address.writeUInt16BE(target.port, 2);
    target.host.split('.').forEach((part, index) => address.writeUInt8(Number(part), 4 + index));
    return { domain: AF_INET, address };
  }
  if (target.host === '::1') {
    const address = Buffer.alloc(28);
    family(address, AF_INET6);
    address.writeUInt16BE(target.port, 2);
    address.writeUInt8(1, 8 + 15);
    return { domain: AF_INET6, address };
  }
  return null;
}

/**
 * Scratch space for the one connect in progress (connects here never overlap: each runs to its
 * end inside one call): tcp_info's first byte is the connection's state, and SO_ERROR's value.
 */
const info = Buffer.alloc(8);
const infoLength = Buffer.alloc(4);
const TCP_ESTABLISHED = 1;
const TCP_CLOSE_WAIT = 8;

/**
 * A TCP connect under way: established (or already closed by the peer, which the socket reads as
 * its end), else the kernel's verdict if it has one (SO_ERROR), else still under way. One
 * system call (TCP_INFO) answers the usual case.
 */
function settle(c: Libc, fd: number): AtOnceConnect {
  infoLength.writeUInt32LE(1);
  if (c.getsockopt(fd, IPPROTO_TCP, TCP_INFO, info, infoLength) !== 0) return UNSETTLED;
  const state = info[0];
  if (state === TCP_ESTABLISHED || state === TCP_CLOSE_WAIT) return { state: 'connected', fd };
  infoLength.writeUInt32LE(4);
  if (c.getsockopt(fd, SOL_SOCKET, SO_ERROR, info, infoLength) !== 0) return UNSETTLED;
  const error = info.readInt32LE(0);
  return error === 0 ? UNSETTLED : { state: 'refused', code: ERRNO_NAMES.get(error) ?? `errno ${error}` };
}

let lastTarget: StreamTarget | null = null;
let lastWhere: { readonly domain: number; readonly address: Buffer } | null = null;

/**
 * Connects to `target` (a literal loopback address or a unix socket) inside this call. A target
 * this cannot reach in one call (a name, another host, a path too long) is `unsettled` at once.
 */
export function connectAtOnce(target: StreamTarget): AtOnceConnect {
  // Connections to one peer share its address object: its socket address is made once.
  if (target !== lastTarget) {
    lastWhere = socketAddress(target);
    lastTarget = target;
  }
  const where = lastWhere;
  if (where === null) return UNSETTLED;
  if (libc === undefined) libc = loadLibc();
  const c = libc;
  if (c === null) return UNSETTLED;
  const fd = c.socket(where.domain, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return UNSETTLED;
  let result: AtOnceConnect;
  if (c.connect(fd, where.address, where.address.length) === 0) result = { state: 'connected', fd };
  else {
    const errno = c.errno();
    // A full listen queue (EAGAIN on a unix socket), a signal, a handshake still under way:
    // none is an answer yet, and the usual connect waits for one.
    if (errno === EINPROGRESS) result = settle(c, fd);
    else if (errno === EAGAIN || errno === EINTR) result = UNSETTLED;
    else result = { state: 'refused', code: ERRNO_NAMES.get(errno) ?? `errno ${errno}` };
  }
  if (result.state !== 'connected') c.close(fd);
  return result;
}
