/*
 * The HTTP routes of one listener: which route a (normalised) path belongs to, and serving a
 * request on it — reverse proxy (direct or through a tunnel), static folder, route module, or
 * the 426 a plain request gets on a websocket route. Upgrades on websocket routes are the
 * relays' (ws-relay.ts), and those on a module route that takes them its sockets'
 * (module-sockets.ts): the front registers both as WebSocket endpoints. The modules' lifecycle
 * (init before listening, close at shutdown) runs from here.
 */
import type { LookupFunction } from 'node:net';
import type { HttpResponse } from 'uWebSockets.js';
import type { BridgeObservers } from '../core/bridge-observer.js';
import type { SocketData, WsEndpoint } from '../core/endpoint.js';
import { addressFields, headerValue, type ClientRequest } from '../core/request.js';
import type { ClientData } from '../core/client-endpoint.js';
import type { ClientSet } from '../core/client-set.js';
import { Refusal } from '../core/refusal.js';
import type { RouteModule } from '../core/route-api.js';
import { log } from '../lib/log.js';
import { portOf } from '../lib/url.js';
import type { Tunnels } from '../tunnel/runtime.js';
import { ClientResponse } from './client-response.js';
import { ModuleRoute } from './module-route.js';
import { proxyHeaderUpstream } from './proxy-header-connection.js';
import { relayHttpToSibling } from './sibling-http.js';
import { proxyHttp } from './proxy-http.js';
import { tunnelConnection } from './proxy-tunnel.js';
import { RouteTable, type Route, type RouteTarget } from './route-table.js';
import { serveStatic } from './static.js';
import { routePool, undici, type UpstreamConnection } from './upstream-pool.js';
import { WebSocketRelay } from './ws-relay.js';

/** What bridges a peer route's upgrades: the bridge's endpoint, with the route's peer for a backend. */
export interface PeerRouteEndpoint extends WsEndpoint<ClientData> {
  /** `POST` with `Websocksy-Session: open`: a resumable session over HTTP (docs/sessions.md). */
  openOverHttp(res: HttpResponse, request: ClientRequest): void;
}

export type PeerTarget = Extract<RouteTarget, { kind: 'peer' }>;

export interface HttpRouteOptions {
  /** True for a hop address whose X-Forwarded-Proto and -Host are believed (trusted-proxies). */
  readonly isTrustedProxy: (address: string) => boolean;
  /** Makes the endpoint of a `peer = ADDRESS` route (the composition root knows the bridge). */
  readonly peerEndpoint: (route: Route, target: PeerTarget) => PeerRouteEndpoint;
  /** How clients reach this listener, for X-Forwarded-Proto and Forwarded's proto=. */
  readonly clientProto: 'http' | 'https';
  /** Who hears of the websocket routes' relays and the modules' sockets (the metrics, the status history). */
  readonly observers: BridgeObservers;
  /** The listener's keep-alive sweep (the bridge's clients), which the relays' and the modules' clients join. */
  readonly keptAlive: ClientSet;
}

export class HttpRoutes {
  readonly table: RouteTable;
  /** One keep-alive pool per direct route; the lookup that holds its upstream to the route's allow, for proxy-protocol's own connections. */
  private readonly direct = new Map<Route, { readonly pool: UpstreamConnection; readonly lookup: LookupFunction | undefined }>();
  private readonly relays = new Map<Route, WebSocketRelay>();
  private readonly modules = new Map<Route, ModuleRoute>();
  private readonly peers = new Map<Route, PeerRouteEndpoint>();
  /** Modules whose init() succeeded: those close() is owed to. */
  private readonly started: ModuleRoute[] = [];

  /** `modules`: the loaded module of every module route (config/load.ts). */
  constructor(
    routes: readonly Route[],
    private readonly tunnels: Tunnels,
    private readonly options: HttpRouteOptions,
    modules: ReadonlyMap<Route, RouteModule> = new Map(),
  ) {
    this.table = new RouteTable(routes);
    for (const route of routes) {
      const target = route.target;
      if (target.kind === 'http' && target.via === null) {
        // A route with proxy-protocol (http:// only) uses only the lookup: its connections are per request.
        const lookup = target.allow === null ? undefined : target.allow.lookupFor(portOf(target.url));
        this.direct.set(route, { pool: { dispatcher: routePool(target.url, target.tls, lookup), oneShot: false }, lookup });
      }
      // Their requests go through undici's one-shot clients: loaded now, not on the first request.
      if (target.kind === 'http' && (target.via !== null || target.proxyProtocol !== null)) undici();
      if (target.kind === 'websocket') this.relays.set(route, new WebSocketRelay(route, target.url, target.allow, target.tls, options.clientProto, target.proxyProtocol, options.observers, options.keptAlive));
      if (target.kind === 'peer') this.peers.set(route, options.peerEndpoint(route, target));
      if (target.kind === 'module') {
        const module = modules.get(route);
        if (module === undefined) throw new Error(`route ${route.prefix}: its module ${target.file} was not loaded`);
        this.modules.set(route, new ModuleRoute(route, target, module, options.observers, options.keptAlive));
      }
    }
  }

  /** Runs every module's init(), in file order; the first failure stops start-up. */
  async start(): Promise<void> {
    for (const module of this.modules.values()) {
      await module.init();
      this.started.push(module);
    }
  }

  get empty(): boolean {
    return this.table.routes.length === 0;
  }

  match(path: string): Route | null {
    return this.table.match(path);
  }

  /** What takes upgrades on `route`: a websocket route's relay, a module's sockets, a peer route's bridge, or null (the bridge does). */
  socketEndpointOf(route: Route): WsEndpoint<SocketData> | null {
    return this.relays.get(route) ?? this.modules.get(route)?.sockets ?? this.peers.get(route) ?? null;
  }

  /** True when a route bridges to a resumable peer: its listener serves the session path too. */
  get hasResumablePeer(): boolean {
    return this.table.routes.some((route) => route.target.kind === 'peer' && route.target.resumable);
  }

  /** Every route's WebSocket endpoint, for the front to register. */
  socketEndpoints(): Array<{ readonly prefix: string; readonly endpoint: WsEndpoint<SocketData> }> {
    return this.table.routes.flatMap((route) => {
      const endpoint = this.socketEndpointOf(route);
      return endpoint === null ? [] : [{ prefix: route.prefix, endpoint }];
    });
  }

  /** Serves a request (not an upgrade) on `route`; call from the uWS handler itself. */
  serve(res: HttpResponse, request: ClientRequest, route: Route): void {
    const target = route.target;
    const module = this.modules.get(route);
    if (module?.takesRequests === true) {
      module.serve(res, request);
      return;
    }
    const peer = this.peers.get(route);
    if (peer !== undefined && request.method === 'POST' && headerValue(request, 'websocksy-session') === 'open') {
      peer.openOverHttp(res, request);
      return;
    }
    if (target.kind === 'websocket' || target.kind === 'module' || target.kind === 'peer') {
      ClientResponse.answering(res, request).refuse(new Refusal('websocket-only', 426, 'WebSocket only', 'plain request on a websocket route', { Upgrade: 'websocket' }));
      return;
    }
    if (target.kind === 'static') {
      serveStatic(res, request, route, target);
      return;
    }
    if (request.method === 'CONNECT') {
      // A 2xx to CONNECT turns the upstream's connection into a tunnel (RFC 9112 §6.3): the pool
      // would take it back for the next request, which would go down the tunnel. A reverse
      // proxy's routes tunnel nothing; undici refuses the method outright for https:// ones.
      log.info('http method refused', { id: request.id, route: route.prefix, method: request.method, path: request.path, ...addressFields(request), status: 501 });
      ClientResponse.answering(res, request).fail('501 Not Implemented', 'Method not implemented');
      return;
    }
    const trustedClient = this.options.isTrustedProxy(request.hopAddress);
    if (target.via === null) {
      const direct = this.direct.get(route) as { readonly pool: UpstreamConnection; readonly lookup: LookupFunction | undefined };
      const connection = target.proxyProtocol === null ? direct.pool : proxyHeaderUpstream(target.url, target.proxyProtocol, request.clientAddress, direct.lookup);
      proxyHttp(res, request, { route, base: target.url, connection, label: target.url.origin, trustedClient, clientProto: this.options.clientProto });
      return;
    }
    const sibling = request.fromSibling === true ? null : this.tunnels.siblingHolding(target.via);
    if (sibling !== null) {
      relayHttpToSibling(res, request, sibling);
      return;
    }
    const connection = tunnelConnection(this.tunnels, target.via, target.url);
    if (connection === null) {
      log.warn('http tunnel not connected', { id: request.id, route: route.prefix, upstream: `${target.url.origin} via ${target.via}`, method: request.method, path: request.path, ...addressFields(request), status: 503 });
      ClientResponse.answering(res, request).fail('503 Service Unavailable', 'Service unavailable');
      return;
    }
    proxyHttp(res, request, { route, base: target.url, connection, label: `${target.url.origin} via ${target.via}`, trustedClient, clientProto: this.options.clientProto });
  }

  /**
   * Shutdown: the pools go, module sockets get 1001, and every started module's close() runs.
   * `gently` (a reload retiring these routes): the pools first finish the requests they carry.
   */
  async close(gently = false): Promise<void> {
    await Promise.all([...this.direct.values()].map(({ pool }) => (gently ? pool.dispatcher.close() : pool.dispatcher.destroy())));
    await Promise.all(this.started.splice(0).map((module) => module.close()));
  }
}
