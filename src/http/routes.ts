/*
 * The HTTP routes of one listener: which route a (normalised) path belongs to, and serving a
 * request on it — reverse proxy (direct or through a tunnel), static folder, or the 426 a plain
 * request gets on a websocket route. Upgrades on websocket routes are the relays' (ws-relay.ts),
 * which the front registers as WebSocket endpoints.
 */
import { Agent } from 'node:http';
import type { HttpResponse } from 'uWebSockets.js';
import type { ClientRequest } from '../core/request.js';
import { Refusal } from '../core/refusal.js';
import { log } from '../lib/log.js';
import type { Tunnels } from '../tunnel/runtime.js';
import { ClientResponse } from './client-response.js';
import { proxyHttp } from './proxy-http.js';
import { tunnelConnection } from './proxy-tunnel.js';
import { RouteTable, type Route } from './route-table.js';
import { serveStatic } from './static.js';
import { WebSocketRelay } from './ws-relay.js';

export interface HttpRouteOptions {
  /** True for a client address whose X-Forwarded-Proto and -Host are believed (trusted-proxies). */
  readonly isTrustedProxy: (address: string) => boolean;
}

export class HttpRoutes {
  readonly table: RouteTable;
  /** One keep-alive pool per direct route. */
  private readonly agents = new Map<Route, Agent>();
  private readonly relays = new Map<Route, WebSocketRelay>();

  constructor(
    routes: readonly Route[],
    private readonly tunnels: Tunnels,
    private readonly options: HttpRouteOptions,
  ) {
    this.table = new RouteTable(routes);
    for (const route of routes) {
      const target = route.target;
      if (target.kind === 'http' && target.via === null) this.agents.set(route, new Agent({ keepAlive: true }));
      if (target.kind === 'websocket') this.relays.set(route, new WebSocketRelay(route, target.url));
    }
  }

  get empty(): boolean {
    return this.table.routes.length === 0;
  }

  match(path: string): Route | null {
    return this.table.match(path);
  }

  /** The relay of a websocket route, or null for the other kinds. */
  relayOf(route: Route): WebSocketRelay | null {
    return this.relays.get(route) ?? null;
  }

  /** Every websocket route's relay, for the front to register. */
  relayEndpoints(): Array<{ readonly prefix: string; readonly relay: WebSocketRelay }> {
    return [...this.relays].map(([route, relay]) => ({ prefix: route.prefix, relay }));
  }

  /** Serves a request (not an upgrade) on `route`; call from the uWS handler itself. */
  serve(res: HttpResponse, request: ClientRequest, route: Route): void {
    const target = route.target;
    if (target.kind === 'websocket') {
      ClientResponse.answering(res, request).refuse(new Refusal(426, 'WebSocket only', 'plain request on a websocket route', { Upgrade: 'websocket' }));
      return;
    }
    if (target.kind === 'static') {
      serveStatic(res, request, route, target);
      return;
    }
    const trustedClient = this.options.isTrustedProxy(request.clientAddress);
    if (target.via === null) {
      proxyHttp(res, request, { route, base: target.url, connection: { agent: this.agents.get(route) as Agent }, label: target.url.origin, trustedClient });
      return;
    }
    const connection = tunnelConnection(this.tunnels, target.via, target.url);
    if (connection === null) {
      log.warn('http tunnel not connected', { id: request.id, route: route.prefix, via: target.via, method: request.method, path: request.path, client: request.clientAddress, status: 503 });
      ClientResponse.answering(res, request).fail('503 Service Unavailable', 'Service unavailable');
      return;
    }
    proxyHttp(res, request, { route, base: target.url, connection, label: `${target.url.origin} via ${target.via}`, trustedClient });
  }

  close(): void {
    for (const agent of this.agents.values()) agent.destroy();
  }
}
