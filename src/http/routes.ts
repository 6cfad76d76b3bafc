/*
 * The HTTP routes on the listener's port. Each prefix is registered with uWS (which prefers
 * static segments to the bridge's `/*`), and every handler asks the route table, which is
 * what decides: whole segments, longest prefix. WebSocket upgrades belong to `websocket`
 * routes; on any other path they go on (uWS's yield) to the bridge's backend, as before.
 * Requests the bridge's catch-all receives come here first (the root route, and 404s).
 */
import { Agent } from 'node:http';
import type { HttpRequest, HttpResponse, TemplatedApp } from 'uWebSockets.js';
import { log } from '../core/log.js';
import type { Tunnels } from '../tunnel/runtime.js';
import { ClientResponse } from './client-response.js';
import { proxyHttp, readClientRequest } from './proxy-http.js';
import { tunnelConnection } from './proxy-tunnel.js';
import { RouteTable, type Route } from './route-table.js';
import { serveStatic } from './static.js';
import { webSocketRoute } from './ws-proxy.js';

function isUpgrade(req: HttpRequest): boolean {
  return req.getHeader('upgrade') !== '' || req.getHeader('sec-websocket-key') !== '';
}

export class HttpRoutes {
  readonly table: RouteTable;
  /** One keep-alive pool per direct route. */
  private readonly agents = new Map<Route, Agent>();

  constructor(
    routes: readonly Route[],
    private readonly tunnels: Tunnels,
  ) {
    this.table = new RouteTable(routes);
    for (const route of routes) {
      if (route.target.kind === 'http' && route.target.via === null) this.agents.set(route, new Agent({ keepAlive: true }));
    }
  }

  /** Registrations for the listener, made before the bridge's catch-all. */
  get registrations(): Array<(app: TemplatedApp) => void> {
    return this.table.routes
      .filter((route) => route.prefix !== '/')
      .map((route) => (app: TemplatedApp) => {
        if (route.target.kind === 'websocket') {
          const behaviour = webSocketRoute(route, route.target.url);
          app.ws(route.prefix, behaviour).ws(`${route.prefix}/*`, behaviour);
        } else {
          const handler = (res: HttpResponse, req: HttpRequest): void => this.handle(res, req);
          app.any(route.prefix, handler).any(`${route.prefix}/*`, handler);
        }
      });
  }

  /** For the bridge's catch-all: true when a route (or the 404 of a routed port) answered. */
  fallback(res: HttpResponse, req: HttpRequest): boolean {
    if (this.table.routes.length === 0 || isUpgrade(req)) return false;
    this.handle(res, req);
    return true;
  }

  private handle(res: HttpResponse, req: HttpRequest): void {
    const route = this.table.match(req.getUrl());
    if (isUpgrade(req) && route?.target.kind !== 'websocket') {
      req.setYield(true);
      return;
    }
    const client = readClientRequest(res, req);
    if (route === null) {
      log.debug('http no route', { path: client.path, client: client.clientAddress });
      new ClientResponse(res, client.hasBody).fail('404 Not Found', 'Not found');
      return;
    }
    const target = route.target;
    if (target.kind === 'websocket') {
      new ClientResponse(res, client.hasBody).fail('426 Upgrade Required', 'WebSocket only', { Upgrade: 'websocket' });
      return;
    }
    if (target.kind === 'static') {
      serveStatic(res, client, route, target.root);
      return;
    }
    if (target.via === null) {
      proxyHttp(res, client, route, target.url, { agent: this.agents.get(route) as Agent }, target.url.origin);
      return;
    }
    const connection = tunnelConnection(this.tunnels, target.via, target.url);
    if (connection === null) {
      log.warn('http tunnel not connected', { route: route.prefix, via: target.via, method: client.method, path: client.path, client: client.clientAddress, status: 503 });
      new ClientResponse(res, client.hasBody).fail('503 Service Unavailable', 'Service unavailable');
      return;
    }
    proxyHttp(res, client, route, target.url, connection, `${target.url.origin} via ${target.via}`);
  }

  close(): void {
    for (const agent of this.agents.values()) agent.destroy();
  }
}
