/*
 * The undici dispatchers HTTP routes send their requests through: a keep-alive pool per direct
 * route, or a client made for one request whose connection someone else opens (a tunnel stream,
 * a socket that starts with a PROXY header). undici times nothing here: websocksy times the
 * response head itself, from the end of the upload (proxy-http.ts), and a body may take as long
 * as it takes, as through node:http before.
 */
import type { LookupFunction, Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { Client, Pool, type Dispatcher } from 'undici';
import { connectVerified, type UpstreamTls } from '../lib/tls-upstream.js';

/** How a request reaches its upstream. */
export interface UpstreamConnection {
  readonly dispatcher: Dispatcher;
  /** The dispatcher serves this one request: it asks the upstream to close, and is closed after. */
  readonly oneShot: boolean;
  /** Called when the response is complete, before the dispatcher lets go of its connection. */
  readonly exchangeComplete?: () => void;
}

/** Opens the connection of a one-shot client; calls back once it can carry the request. */
export type OpenConnection = (done: (error: Error | null, socket: Duplex) => void) => void;

/**
 * How long a pooled upstream connection may sit idle when the upstream names no keep-alive
 * timeout of its own (undici's own default, made explicit). Connections opened for requests
 * whose client left before they were sent sit idle this long too, then close.
 */
export const ROUTE_POOL_IDLE_MS = 4000;

const UNTIMED = { headersTimeout: 0, bodyTimeout: 0, keepAliveTimeout: ROUTE_POOL_IDLE_MS } as const;

/**
 * undici takes a connection from a connector's callback; ours are Duplexes (a TLS socket, a pipe
 * end) that serve as one. undici needs the callback to come later than the call (a pipe end is
 * ready at once: called back then, the request is never sent).
 */
function connector(open: OpenConnection): (options: unknown, callback: (...args: [null, Socket] | [Error, null]) => void) => void {
  return (_options, callback) =>
    open((error, socket) => process.nextTick(() => (error === null ? callback(null, socket as Socket) : callback(error, null))));
}

/**
 * The keep-alive pool of a direct route. https:// connections are made and verified by
 * lib/tls-upstream.ts (CA, host name, pinned fingerprint) before the first byte of a request;
 * `lookup` holds the upstream's name to the route's allow, for http:// and https:// alike.
 */
export function routePool(url: URL, tls: UpstreamTls, lookup: LookupFunction | undefined): Dispatcher {
  if (url.protocol === 'https:') {
    const port = url.port === '' ? 443 : Number(url.port);
    return new Pool(url.origin, { ...UNTIMED, connect: connector((done) => connectVerified({ hostname: url.hostname, port, lookup }, tls, done)) });
  }
  return new Pool(url.origin, { ...UNTIMED, ...(lookup === undefined ? {} : { connect: { lookup } }) });
}

/** A client for one request to `url` over the connection `open` makes. */
export function oneShot(url: URL, open: OpenConnection): UpstreamConnection {
  return { dispatcher: new Client(url.origin, { ...UNTIMED, connect: connector(open) }), oneShot: true };
}
