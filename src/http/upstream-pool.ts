/*
 * The dispatchers HTTP routes send their requests through: for a direct http:// route, our own
 * keep-alive pool (h1-pool.ts); for https:// routes, and for requests whose connection someone
 * else opens (a tunnel stream, a socket that starts with a PROXY header), undici's. Nothing here
 * times a request: websocksy times the exchange itself (proxy-http.ts): the response head from
 * the end of the upload, and an upload or a body the upstream lets stand still.
 */
import type { LookupFunction, Socket } from 'node:net';
import type { Duplex, Readable } from 'node:stream';
import type * as Undici from 'undici';
import { onDemand } from '../lib/on-demand.js';
import { connectVerified, type UpstreamTls } from '../lib/tls-upstream.js';
import { H1Pool } from './h1-pool.js';

/** One request as a route sends it upstream. */
export interface UpstreamRequest {
  readonly method: string;
  readonly path: string;
  readonly headers: Record<string, string | string[]>;
  /** The client's body; sent chunked when `headers` has no content-length. */
  readonly body: Readable | null;
  /** The connection serves this request alone. */
  readonly reset: boolean;
}

/** What a dispatcher tells the exchange of one request (undici's handler callbacks). */
export interface UpstreamHandler {
  /** First: `abort` ends the exchange (onError follows, unless it is complete). */
  onConnect(abort: (error?: Error) => void): void;
  /** The request and its whole body went out. */
  onRequestSent(): void;
  /** The final response's head, names and values as latin1 text or bytes. */
  onHeaders(status: number, rawHeaders: ReadonlyArray<Buffer | string>, resume: () => void, statusText: string): boolean;
  /** Body bytes, valid during the call only; false: wait for `resume`. */
  onData(chunk: Buffer): boolean;
  onComplete(): void;
  onError(error: Error): void;
}

/** Where a route's requests go. */
export interface RouteDispatcher {
  dispatch(request: UpstreamRequest, handler: UpstreamHandler): void;
  /** Lets the requests it carries finish, then closes its connections. */
  close(): Promise<void>;
  /** Closes every connection now; the requests they carry fail. */
  destroy(): Promise<void>;
}

/** How a request reaches its upstream. */
export interface UpstreamConnection {
  readonly dispatcher: RouteDispatcher;
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
 * undici, loaded the first time a route needs it: its hundred-odd modules would add a tenth of a
 * second to every start, and most servers (a bridge; routes to http:// upstreams, which our own
 * pool serves) never use it. A route that does calls this when it is built (routes.ts), so that
 * its first request does not wait for the load.
 */
export const undici = onDemand<typeof Undici>('undici');

/** undici's dispatcher as a RouteDispatcher. */
function undiciRoute(dispatcher: Undici.Dispatcher): RouteDispatcher {
  return {
    dispatch: (request, handler) => void dispatcher.dispatch(request, handler),
    close: () => dispatcher.close(),
    destroy: () => dispatcher.destroy(),
  };
}

/**
 * The keep-alive pool of a direct route. https:// connections are made and verified by
 * lib/tls-upstream.ts (CA, host name, pinned fingerprint) before the first byte of a request;
 * `lookup` holds the upstream's name to the route's allow, for http:// and https:// alike.
 */
export function routePool(url: URL, tls: UpstreamTls, lookup: LookupFunction | undefined): RouteDispatcher {
  if (url.protocol === 'https:') {
    const port = url.port === '' ? 443 : Number(url.port);
    return undiciRoute(new (undici().Pool)(url.origin, { ...UNTIMED, connect: connector((done) => connectVerified({ hostname: url.hostname, port, lookup }, tls, done)) }));
  }
  return new H1Pool(url, lookup, ROUTE_POOL_IDLE_MS);
}

/** A client for one request to `url` over the connection `open` makes. */
export function oneShot(url: URL, open: OpenConnection): UpstreamConnection {
  return { dispatcher: undiciRoute(new (undici().Client)(url.origin, { ...UNTIMED, connect: connector(open) })), oneShot: true };
}
