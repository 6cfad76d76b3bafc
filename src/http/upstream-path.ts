/*
 * Where a routed request goes upstream: the route's base path with the part of the (already
 * normalised) request path below the prefix, then the client's query as sent. The request path
 * has no dot segments and no empty ones (src/front/path.ts), so the result stays under the base
 * path and never starts with `//`; it is only ever appended to the upstream's own origin, never
 * resolved against it, so no path can name another host.
 */
import type { ClientRequest } from '../core/request.js';
import { restOf, type Route } from './route-table.js';

/** Percent-encodes (as UTF-8) what an HTTP request line cannot carry: node:http sends ASCII paths only. */
function asciiOnly(text: string): string {
  if (!/[^\x21-\x7e]/.test(text)) return text;
  return text.replace(/[^\x21-\x7e]+/g, (run) => {
    let encoded = '';
    for (const byte of Buffer.from(run, 'utf8')) encoded += `%${byte.toString(16).toUpperCase().padStart(2, '0')}`;
    return encoded;
  });
}

export function upstreamPath(route: Route, basePath: string, request: Pick<ClientRequest, 'path' | 'search'>): string {
  const joined = basePath.replace(/\/$/, '') + restOf(route, request.path);
  return asciiOnly((joined === '' ? '/' : joined) + request.search);
}

/** The URL of the remote WebSocket for a request on a websocket route. */
export function upstreamUrl(route: Route, base: URL, request: Pick<ClientRequest, 'path' | 'search'>): string {
  return `${base.protocol}//${base.host}${upstreamPath(route, base.pathname, request)}`;
}
