/*
 * Reaching a direct HTTP or ws:// upstream with a PROXY header (`[route] proxy-protocol`): the header
 * names one client, so the request gets a connection of its own instead of the route's
 * keep-alive pool, at the cost of one TCP handshake per request. The header goes out once
 * the socket is connected (it names websocksy's end of it), and node:http is handed the
 * socket only then, so its request follows the header.
 */
import { connect, type LookupFunction, type Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { writeProxyHeader, type ProxyVersion } from '../lib/proxy-header.js';
import { portOf, socketHost } from '../lib/url.js';
import type { UpstreamConnection } from './proxy-http.js';

/** `lookup` holds the upstream's name to the route's allow (destination-allow.ts), as the pooled agent's does. */
export function proxyHeaderConnection(url: URL, version: ProxyVersion, clientAddress: string, lookup?: LookupFunction): Extract<UpstreamConnection, { createConnection: unknown }> {
  return {
    createConnection: (_options, oncreate) => {
      const socket: Socket = connect({ host: socketHost(url), port: portOf(url), ...(lookup === undefined ? {} : { lookup }) });
      const failed = (error: Error): void => oncreate(error, socket as Duplex);
      socket.once('error', failed);
      socket.once('connect', () => {
        socket.off('error', failed);
        socket.setNoDelay(true);
        writeProxyHeader(socket, version, clientAddress);
        oncreate(null, socket);
      });
      return undefined;
    },
  };
}
