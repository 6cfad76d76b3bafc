/*
 * Listening sockets of the JS engine. One node:net server per address takes the connections,
 * reads a PROXY v2 header when one comes first (proxy-header.ts), and hands each connection to
 * the app that listens there now. uSockets binds with SO_REUSEPORT so that a second app can
 * listen beside the first (websocksy's certificate reload, front/app.ts); Node 20 has no
 * reusePort, so here the second app shares the first one's server instead: new connections go
 * to the newest app, the connections an older app holds stay with it, and the server closes
 * with the last listen socket on it.
 */
import { createServer, type Server, type Socket } from 'node:net';
import { errorMessage } from '../../lib/errors.js';
import { log } from '../../lib/log.js';
import { readProxyHeader } from './proxy-header.js';

/**
 * What takes a connection: an app's HTTP (or HTTPS) server. The socket comes paused, with the
 * bytes read so far put back: the taker resumes it, or hands it to TLS, which reads them itself.
 */
export interface ConnectionTaker {
  take(socket: Socket, proxiedAddress: string): void;
}

/** The uWS listen socket: one app listening on one address. */
export class JsListenSocket {
  closed = false;
  constructor(
    readonly address: SharedAddress,
    readonly taker: ConnectionTaker,
  ) {}
}

/** Above this, a connection that began like a PROXY header and is still not one is cut. */
const PROXY_HEADER_MAX = 16 + 65535;
/** A connection that sends nothing is cut after this, as uWS's HTTP timeout cuts it. */
const FIRST_BYTES_TIMEOUT_MS = 10_000;

/** Reads the connection's first bytes for a PROXY header, then hands it on with what it sent. */
function intake(socket: Socket, deliver: (proxiedAddress: string) => void): void {
  let head: Buffer | null = null;
  socket.setTimeout(FIRST_BYTES_TIMEOUT_MS, () => socket.destroy());
  const onData = (chunk: Buffer): void => {
    head = head === null ? chunk : Buffer.concat([head, chunk]);
    const read = readProxyHeader(head);
    if (read.kind === 'incomplete' && head.length <= PROXY_HEADER_MAX) return;
    socket.pause();
    socket.removeListener('data', onData);
    if (read.kind === 'malformed' || read.kind === 'incomplete') {
      // uWS drops such a connection too: what follows cannot be read as HTTP either.
      socket.destroy();
      return;
    }
    socket.setTimeout(0);
    const rest = read.kind === 'header' ? head.subarray(read.length) : head;
    if (rest.length > 0) socket.unshift(rest);
    deliver(read.kind === 'header' ? read.source : '');
  };
  socket.on('data', onData);
}

/** One bound address and the apps listening on it, newest last. */
class SharedAddress {
  readonly listeners: JsListenSocket[] = [];

  constructor(
    readonly key: string,
    readonly server: Server,
    readonly port: number,
  ) {
    server.on('connection', (socket) => {
      // Errors before an app took the socket (a reset during the PROXY read) end only it.
      socket.on('error', () => socket.destroy());
      intake(socket, (proxiedAddress) => {
        const taker = this.listeners[this.listeners.length - 1]?.taker;
        if (taker === undefined) socket.destroy();
        else taker.take(socket, proxiedAddress);
      });
    });
  }
}

const addresses = new Map<string, SharedAddress>();

/** Listens on host:port for `taker`; calls `done` with the listen socket, or false when the bind failed. */
export function listenOn(host: string, port: number, taker: ConnectionTaker, done: (socket: JsListenSocket | false) => void): void {
  const key = `${host}|${port}`;
  const shared = port === 0 ? undefined : addresses.get(key);
  if (shared !== undefined) {
    const socket = new JsListenSocket(shared, taker);
    shared.listeners.push(socket);
    done(socket);
    return;
  }
  const server = createServer({ noDelay: true });
  const failed = (): void => done(false);
  server.once('error', failed);
  server.listen({ host, port }, () => {
    server.off('error', failed);
    // An accept that fails (EMFILE) costs that one connection; uWS goes on too.
    server.on('error', (error) => log.warn('engine accept failed', { host, port, error: errorMessage(error) }));
    const address = server.address();
    const bound = typeof address === 'object' && address !== null ? address.port : port;
    const created = new SharedAddress(`${host}|${bound}`, server, bound);
    addresses.set(created.key, created);
    const socket = new JsListenSocket(created, taker);
    created.listeners.push(socket);
    done(socket);
  });
}

export function closeListenSocket(socket: JsListenSocket): void {
  if (socket.closed) return;
  socket.closed = true;
  const { address } = socket;
  address.listeners.splice(address.listeners.indexOf(socket), 1);
  if (address.listeners.length > 0) return;
  addresses.delete(address.key);
  address.server.close();
}

export function localPort(socket: JsListenSocket): number {
  return socket.address.port;
}
