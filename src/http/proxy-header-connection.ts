/*
 * Reaching a direct HTTP or ws:// upstream with a PROXY header (`[route] proxy-protocol`): the header
 * names one client, so the request gets a connection of its own instead of the route's
 * keep-alive pool, at the cost of one TCP handshake per request. The header goes out once
 * the socket is connected (it names websocksy's end of it), and the HTTP client (undici for
 * a `to` route, node:http under `ws` for a websocket route) is handed the socket only then, so
 * its request follows the header.
 */
import { connect, type LookupFunction, type Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { writeProxyHeader, type ProxyVersion } from '../lib/proxy-header.js';
import { socketOptions } from '../lib/socket-options.js';
import { portOf, socketHost } from '../lib/url.js';
import { oneShot, type UpstreamConnection } from './upstream-pool.js';

/** Connects to `url`, sends the PROXY header naming `clientAddress`, then hands the socket over. `lookup` holds the upstream's name to the route's allow (destination-allow.ts), as the pooled connections' does. */
function openWithProxyHeader(url: URL, version: ProxyVersion, clientAddress: string, lookup: LookupFunction | undefined, done: (error: Error | null, socket: Duplex) => void): void {
  const socket: Socket = connect(socketOptions({ host: socketHost(url), port: portOf(url), ...(lookup === undefined ? {} : { lookup }) }));
  const failed = (error: Error): void => done(error, socket);
  socket.once('error', failed);
  socket.once('connect', () => {
    socket.off('error', failed);
    socket.setNoDelay(true);
    writeProxyHeader(socket, version, clientAddress);
    done(null, socket);
  });
}

/** For a `to` route: a client for this one request. */
export function proxyHeaderUpstream(url: URL, version: ProxyVersion, clientAddress: string, lookup?: LookupFunction): UpstreamConnection {
  return oneShot(url, (done) => openWithProxyHeader(url, version, clientAddress, lookup, done));
}

/** For node:http under `ws` (a `websocket` route): its createConnection, which calls back with the socket. */
export function proxyHeaderConnection(url: URL, version: ProxyVersion, clientAddress: string, lookup?: LookupFunction): { readonly createConnection: (options: unknown, oncreate: (error: Error | null, socket: Duplex) => void) => undefined } {
  return {
    createConnection: (_options, oncreate) => {
      openWithProxyHeader(url, version, clientAddress, lookup, oncreate);
      return undefined;
    },
  };
}
