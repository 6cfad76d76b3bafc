/*
 * A plain request carried on to the node of the cluster that holds what it names (a session's
 * poll, send or end; an HTTP route's request `via` a tunnel another node serves): proxied to
 * that node's link as to any upstream, with the cluster's secret and
 * the client's address in place of the forwarding headers, which the link believes from its
 * siblings alone (cluster/siblings.ts). Each sibling's link gets one keep-alive pool.
 */
import type { HttpResponse } from 'uWebSockets.js';
import { nodeName } from '../cluster/registry.js';
import type { SiblingLink } from '../cluster/sibling-relay.js';
import { LINK_HEADER } from '../cluster/link.js';
import type { ClientRequest } from '../core/request.js';
import { H1Pool } from './h1-pool.js';
import { proxyHttp } from './proxy-http.js';
import type { Route } from './route-table.js';
import { ROUTE_POOL_IDLE_MS } from './upstream-pool.js';
import { DEFAULT_UPSTREAM_TLS } from '../lib/tls-upstream.js';

/** Longer than a session poll may wait (session-http.ts MAX_WAIT_S). */
const SIBLING_TIMEOUT_MS = 60_000;

/** Each link's keep-alive pool, and the route that proxies to it whole. */
const links = new Map<string, { readonly pool: H1Pool; readonly route: Route }>();

function linkOf(link: URL): { readonly pool: H1Pool; readonly route: Route } {
  let found = links.get(link.href);
  if (found === undefined) {
    const route: Route = {
      prefix: '/',
      target: { kind: 'http', url: link, via: null, allow: null, tls: DEFAULT_UPSTREAM_TLS, proxyProtocol: null },
      host: 'keep',
      timeoutMs: SIBLING_TIMEOUT_MS,
      auth: null,
    };
    found = { pool: new H1Pool(link, undefined, ROUTE_POOL_IDLE_MS), route };
    links.set(link.href, found);
  }
  return found;
}

/** Call from the uWS handler itself, as proxyHttp. */
export function relayHttpToSibling(res: HttpResponse, request: ClientRequest, target: SiblingLink): void {
  const { link, node, siblings } = target;
  const { pool, route } = linkOf(link);
  proxyHttp(res, request, {
    route,
    base: link,
    connection: { dispatcher: pool, oneShot: false },
    label: nodeName(node),
    trustedClient: false,
    // What the sibling serves needs the client's address alone, not its scheme.
    clientProto: 'http',
    adjustHeaders: (headers) => {
      headers['x-forwarded-for'] = request.clientAddress;
      delete headers['forwarded'];
      headers[LINK_HEADER] = siblings.secret;
    },
  });
}
