/*
 * The front: one uWS App per listening address (an SSLApp with [tls]: tls-app.ts), and the only
 * code that registers uWS handlers; with SNI names, it registers all of them under each name.
 * Every request enters through here, in this order:
 *   1. one id, used by every log line about it;
 *   2. the request validator (request-reader.ts), and for upgrades the handshake checks
 *      (handshake.ts) — nothing else has seen the request yet;
 *   3. dispatch on the normalised path: the tunnel path, then routes (longest prefix), then
 *      the bridge, which takes every other upgrade; plain requests the bridge would get are
 *      answered 426/405;
 *   4. for upgrades, admission under the connection caps (core/admission.ts): the ticket it
 *      gives is released where the connection ends (pending-upgrade.ts, ws-behaviour.ts);
 *   5. the `auth` of the route or the bridge (src/auth/), checked once, here: the endpoint
 *      gets the request without the credential and with the identity it proved
 *      (ClientRequest.auth), which the caps then count per identity; or never hears of it;
 *   6. the endpoint, with every uWS callback behind the guard (ws-behaviour.ts).
 * Plain HTTP requests (routes, status, session polls) are not counted against the caps: they
 * are short, and max-handshakes and uWS's own HTTP timeout bound what they hold.
 * uWS picks a WebSocket behaviour by its own pattern match on the raw path; when that is not
 * the endpoint the normalised path names (a client spelling `/a/../tunnel`), the upgrade is
 * refused rather than served under another endpoint's limits.
 */
import type { HttpRequest, HttpResponse, TemplatedApp, us_listen_socket, us_socket_context_t } from 'uWebSockets.js';
import type { AuthPolicy, AdmitResult } from '../auth/policy.js';
import type { Admission, AdmissionTicket } from '../core/admission.js';
import type { SocketData, UpgradeAnswer, WsEndpoint } from '../core/endpoint.js';
import { Refusal } from '../core/refusal.js';
import { addressFields, headerValue, offeredProtocols, type ClientRequest } from '../core/request.js';
import { ClientResponse } from '../http/client-response.js';
import type { HttpRoutes } from '../http/routes.js';
import { underPrefix } from '../http/route-table.js';
import { guarded, reportFault, runGuarded, type Guarded } from '../lib/guard.js';
import { log } from '../lib/log.js';
import type { LoadedCertificate } from '../lib/tls-certificate.js';
import { serveSessionHttp } from '../session/session-http.js';
import type { SessionStore } from '../session/session-store.js';
import { TUNNEL_SUBPROTOCOL } from '../tunnel/protocol.js';
import type { BridgeEndpoint } from './bridge-endpoint.js';
import type { ClientAddressPolicy } from './client-address.js';
import { sendDocument, serveMetrics, type MetricsPage } from './control-page.js';
import type { FrontObserver } from './front-observer.js';
import { checkHandshake, looksLikeUpgrade } from './handshake.js';
import { HeldRequest } from './held-request.js';
import { listenApp } from './listen.js';
import { addServerName, createSslApp, type ListenerTls } from './tls-app.js';
import { PendingUpgrade, PendingUpgrades } from './pending-upgrade.js';
import { statusRefusal, type StatusAccess } from './status-access.js';
import { isRefused, readRequest, type RefusedRequest } from './request-reader.js';
import { endpointBehaviour } from './ws-behaviour.js';
import { engine } from './engine.js';

/** The resumable sessions of the bridge: their path's WebSocket endpoint and HTTP requests. */
export interface FrontSessions {
  readonly store: SessionStore;
  readonly endpoint: WsEndpoint<SocketData>;
}

export interface FrontParts {
  /** The bridge: takes every upgrade nothing else claims. Null on route-only listeners. */
  readonly bridge: BridgeEndpoint | null;
  /** Who may use the bridge (`[core] auth`): its upgrades and sessions opened over HTTP. Null: anyone. */
  readonly bridgeAuth: AuthPolicy | null;
  /** Present with the bridge. */
  readonly sessions: FrontSessions | null;
  readonly tunnel: { readonly path: string; readonly endpoint: WsEndpoint<SocketData> } | null;
  readonly routes: HttpRoutes | null;
  /**
   * The status JSON at `path` (null: at every path, on a listener of its own), for readers
   * `access` admits; the Prometheus metrics at their own path, to the same readers.
   */
  readonly status: { readonly path: string | null; readonly access: StatusAccess; readonly render: () => object; readonly metrics: MetricsPage | null } | null;
}

export interface FrontOptions {
  /** Upgrades that may wait for their answer at once; more get 503. */
  readonly maxPendingUpgrades: number;
  /** Which proxies' word on the client's address is believed (client-address.ts). */
  readonly clientAddresses: ClientAddressPolicy;
  /** How long an upgrade may wait for its answer before it gets 504; 0 = no bound. */
  readonly handshakeTimeoutMs: number;
  /** The connection caps, shared by every listener of the process. */
  readonly admission: Admission;
  /** Hears refused handshakes and route requests (the metrics); none by default. */
  readonly observer?: FrontObserver | undefined;
}

let lastId = 0;

/** Connection ids, unique in the process: every listener's requests and sockets share them. */
function nextId(): number {
  lastId = lastId === Number.MAX_SAFE_INTEGER ? 1 : lastId + 1;
  return lastId;
}

/** The guard's owner for a request before an endpoint took it: a 500 that closes the connection. */
function requestOwner(res: HttpResponse, id: number): Guarded {
  return { logFields: { id }, abortAfterFault: () => new ClientResponse(res, id).fail('500 Internal Server Error', 'Internal error', {}, true) };
}

export class Front {
  private app: TemplatedApp;
  private listenSocket: us_listen_socket | null = null;
  private address: { readonly host: string; readonly port: number } | null = null;
  /** Apps replaced by a certificate reload: their connections live on, so they must too. */
  private readonly retired: TemplatedApp[] = [];
  private readonly pending: PendingUpgrades;
  private shuttingDown = false;

  private readonly admission: Admission;

  /** `tls`: serve TLS with these certificates (SSLApp); null for plain HTTP and WebSocket. */
  constructor(
    private readonly parts: FrontParts,
    private readonly options: FrontOptions,
    private tls: ListenerTls | null = null,
  ) {
    const { admission } = options;
    this.admission = admission;
    this.pending = new PendingUpgrades(options.maxPendingUpgrades, options.handshakeTimeoutMs, () => admission.count('handshake-timeout'), (status) => options.observer?.refused(status));
    this.app = this.createApp(tls);
  }

  private createApp(tls: ListenerTls | null): TemplatedApp {
    const app = tls === null ? engine().uws.App() : createSslApp(tls.default);
    this.registerHandlers(app);
    for (const [name, certificate] of tls?.names ?? []) this.addServerName(app, name, certificate);
    return app;
  }

  /** uWS routes a request by its SNI name's own router: each name gets every handler too. */
  private addServerName(app: TemplatedApp, name: string, certificate: LoadedCertificate): void {
    addServerName(app, name, certificate);
    app.domain(name);
    this.registerHandlers(app);
  }

  /** Every handler, on the app's current router (the default one, or the SNI name last browsed to). */
  private registerHandlers(app: TemplatedApp): void {
    const { parts } = this;
    const patterns = new Set<string>();
    const register = <D extends SocketData>(pattern: string, endpoint: WsEndpoint<D>): void => {
      // uWS aborts the process on a pattern registered twice; the config checks this too.
      if (patterns.has(pattern)) throw new Error(`two WebSocket endpoints on ${pattern}`);
      patterns.add(pattern);
      app.ws<D>(pattern, endpointBehaviour(endpoint, (res, req, context) => this.upgrade(res, req, context, endpoint)));
    };
    if (parts.tunnel !== null) register(parts.tunnel.path, parts.tunnel.endpoint);
    if (parts.sessions !== null) register(parts.sessions.store.settings.path, parts.sessions.endpoint);
    for (const { prefix, endpoint } of parts.routes?.socketEndpoints() ?? []) {
      register(prefix, endpoint);
      register(`${prefix}/*`, endpoint);
    }
    if (parts.bridge !== null) register('/*', parts.bridge);
    app.any('/*', (res, req) => this.request(res, req));
  }

  async listen(host: string, port: number): Promise<number> {
    const socket = await listenApp(this.app, host, port);
    this.listenSocket = socket;
    const bound = engine().uws.us_socket_local_port(socket);
    this.address = { host, port: bound };
    return bound;
  }

  /**
   * Serves `next` from now on; open connections keep their certificate. There is no engine
   * call that swaps the default certificate, and swapping an SNI name in place is unsafe:
   * removeServerName frees the name's router while connections made under it still route
   * their next requests through it (a keep-alive request after the swap crashes uWS 20.30).
   * So a new app with every certificate listens on the same port beside the old one
   * (uSockets binds with SO_REUSEPORT), then the old listen socket closes; the old app lives
   * on, routers intact, for the connections it holds. The kernel resets connections still in
   * the old socket's accept queue at that moment unless net.ipv4.tcp_migrate_req is 1
   * (docs/tls.md).
   */
  async reloadTls(next: ListenerTls): Promise<string> {
    const current = this.tls;
    if (current === null || this.address === null || this.shuttingDown) throw new Error('this listener does not serve TLS');
    const unchanged = next.default.digest === current.default.digest && next.names.size === current.names.size &&
      [...next.names].every(([name, certificate]) => current.names.get(name)?.digest === certificate.digest);
    if (unchanged) return 'unchanged';
    const app = this.createApp(next);
    const socket = await listenApp(app, this.address.host, this.address.port, true);
    // Connections that arrived while the new app was built wait in the old socket's accept
    // queue: let one turn of the event loop accept them before that socket closes.
    await new Promise((resolve) => setImmediate(resolve));
    if (this.shuttingDown || this.listenSocket === null) {
      engine().uws.us_listen_socket_close(socket);
      return 'not at all: shutting down';
    }
    engine().uws.us_listen_socket_close(this.listenSocket);
    this.retired.push(this.app);
    this.app = app;
    this.listenSocket = socket;
    this.tls = next;
    return 'new listener';
  }

  /** Stops accepting and refuses the upgrades still waiting; open connections are their owners' to close. */
  close(): void {
    this.shuttingDown = true;
    if (this.listenSocket !== null) engine().uws.us_listen_socket_close(this.listenSocket);
    this.listenSocket = null;
    this.pending.refuseAll(new Refusal(503, 'Shutting down', 'shutting down'));
  }

  /**
   * The endpoint an upgrade on `request` belongs to and the auth that guards it, or a refusal.
   * The tunnel checks its own identities, and a session is resumed with its secret.
   */
  private upgradeTarget(request: ClientRequest): { readonly endpoint: WsEndpoint<SocketData>; readonly auth: AuthPolicy | null } | Refusal {
    const { tunnel, routes, bridge, sessions } = this.parts;
    if (tunnel !== null && request.path === tunnel.path) return { endpoint: tunnel.endpoint, auth: null };
    if (sessions !== null && request.path === sessions.store.settings.path) return { endpoint: sessions.endpoint, auth: null };
    // A tunnel client that got the path wrong must learn so before it sends its credentials.
    if (offeredProtocols(request).includes(TUNNEL_SUBPROTOCOL)) {
      return new Refusal(404, 'No tunnel endpoint at this path', `tunnel subprotocol offered on ${request.path}, which is not the tunnel path`);
    }
    const route = routes?.match(request.path) ?? null;
    const routeEndpoint = route === null ? null : (routes?.socketEndpointOf(route) ?? null);
    if (route !== null && routeEndpoint !== null) return { endpoint: routeEndpoint, auth: route.auth };
    if (bridge === null) return new Refusal(404, 'No WebSocket endpoint here', `no WebSocket endpoint for ${request.path}`);
    return { endpoint: bridge, auth: this.parts.bridgeAuth };
  }

  /** Why an upgrade that uWS handed to `endpoint` must be refused, or null to go ahead. */
  private upgradeRefusal(request: ClientRequest, endpoint: WsEndpoint<SocketData>, chosen: ReturnType<Front['upgradeTarget']>): Refusal | null {
    const handshake = checkHandshake(request);
    if (handshake !== null) return handshake;
    if (chosen instanceof Refusal) return chosen;
    const target = chosen.endpoint;
    // uWS matched the raw path to another endpoint than the normalised one names.
    if (target !== endpoint) return new Refusal(400, 'Bad request: use the path as written without . or .. segments', `raw path ${request.rawPath} leads to ${target.name}, not ${endpoint.name}`);
    if (this.shuttingDown) return new Refusal(503, 'Shutting down', 'shutting down');
    if (this.pending.size >= this.pending.limit) {
      return new Refusal(503, 'Too many handshakes in progress', `${this.pending.size} upgrades waiting, limit ${this.pending.limit}`, { 'Retry-After': '1' });
    }
    return null;
  }

  private upgrade(res: HttpResponse, req: HttpRequest, context: us_socket_context_t, endpoint: WsEndpoint<SocketData>): void {
    const id = nextId();
    try {
      const read = readRequest(res, req, id, this.options.clientAddresses);
      if (isRefused(read)) {
        this.refuseRequest(res, read, false);
        return;
      }
      const target = this.upgradeTarget(read);
      const auth = target instanceof Refusal ? null : target.auth;
      // From here on, nothing (the log included) sees the credential.
      const request = auth === null ? read : auth.withoutCredentials(read);
      const key = req.getHeader('sec-websocket-key');
      const refusal = this.upgradeRefusal(request, endpoint, target);
      const admitted = refusal === null ? this.admission.admit(id, request.clientAddress, null) : refusal;
      const ticket = admitted instanceof Refusal ? null : admitted;
      const answer = new PendingUpgrade(res, request, key, '', context, this.pending, ticket);
      if (admitted instanceof Refusal) answer.refuse(admitted);
      else if (auth === null) runGuarded(answer, `${endpoint.name} upgrade`, () => endpoint.upgrade(request, answer));
      else runGuarded(answer, `${endpoint.name} auth`, () => this.upgradeOnceAdmitted(auth, read, request, answer, endpoint, admitted));
      answer.leftUwsHandler();
    } catch (error) {
      reportFault(requestOwner(res, id), `${endpoint.name} upgrade`, error);
    }
  }

  /** Checks `read` (which still carries its credential) against `auth`; the endpoint gets `request` with the identity. */
  private upgradeOnceAdmitted(
    auth: AuthPolicy,
    read: ClientRequest,
    request: ClientRequest,
    answer: UpgradeAnswer<SocketData> & Guarded,
    endpoint: WsEndpoint<SocketData>,
    ticket: AdmissionTicket,
  ): void {
    const go = (result: AdmitResult): void => {
      if (answer.settled) return;
      if (result instanceof Refusal) {
        answer.refuse(result);
        return;
      }
      // The identity's connection cap (max-connections-per-identity) counts the user from here.
      const capped = result.user === null ? null : ticket.claimIdentity(result.user);
      if (capped !== null) answer.refuse(capped);
      else endpoint.upgrade({ ...request, auth: result }, answer);
    };
    const result = auth.admit(read);
    if (result instanceof Promise) result.then(guarded(answer, `${endpoint.name} upgrade`, go), (error: unknown) => reportFault(answer, `${endpoint.name} auth`, error));
    else go(result);
  }

  /**
   * Serves a plain request with `serve` once `auth` admits it (at once when no check is slow);
   * `serve` gets the request without its credential, and the response to answer through.
   */
  private serveOnceAdmitted(res: HttpResponse, read: ClientRequest, auth: AuthPolicy | null, serve: (response: HttpResponse, request: ClientRequest) => void): void {
    if (auth === null) {
      serve(res, read);
      return;
    }
    const request = auth.withoutCredentials(read);
    const go = (response: HttpResponse, result: AdmitResult): void => {
      if (!(result instanceof Refusal)) {
        serve(response, { ...request, auth: result });
        return;
      }
      log.info('refused', { id: request.id, ...addressFields(request), method: request.method, endpoint: request.path + request.search, status: result.statusLine, why: result.detail });
      ClientResponse.answering(response, request).refuse(result);
    };
    const result = auth.admit(read);
    if (!(result instanceof Promise)) {
      go(res, result);
      return;
    }
    const owner = requestOwner(res, request.id);
    const held = new HeldRequest(res, request.hasBody, owner);
    result.then(
      (settled) => {
        if (held.aborted) {
          log.info('client left during auth', { id: request.id, ...addressFields(request) });
          return;
        }
        res.cork(guarded(owner, 'request', () => go(held.response, settled)));
      },
      (error: unknown) => reportFault(owner, 'auth', error),
    );
  }

  private request(res: HttpResponse, req: HttpRequest): void {
    const id = nextId();
    try {
      const read = readRequest(res, req, id, this.options.clientAddresses);
      if (isRefused(read)) this.refuseRequest(res, read, true);
      else this.dispatch(res, read);
    } catch (error) {
      reportFault(requestOwner(res, id), 'request', error);
    }
  }

  private refuseRequest(res: HttpResponse, read: RefusedRequest, plain: boolean): void {
    const { refusal } = read;
    if (!plain) this.options.observer?.refused(refusal.status);
    log.info('refused', { id: read.id, ...addressFields(read), method: plain ? read.method : undefined, endpoint: read.rawPath, status: refusal.statusLine, why: refusal.detail });
    ClientResponse.answering(res, read).refuse(refusal, true);
  }

  private dispatch(res: HttpResponse, request: ClientRequest): void {
    const { status, routes, bridge, sessions } = this.parts;
    if (looksLikeUpgrade(request)) {
      // uWS sends WebSocket routes only handshakes with a 24-character key; the rest land here.
      const refusal = checkHandshake(request) ?? new Refusal(404, 'No WebSocket endpoint here', `no WebSocket endpoint for ${request.path}`);
      const target = this.upgradeTarget(request);
      const shown = target instanceof Refusal || target.auth === null ? request : target.auth.withoutCredentials(request);
      this.options.observer?.refused(refusal.status);
      log.info('refused', { id: request.id, ...addressFields(request), endpoint: shown.path + shown.search, status: refusal.statusLine, why: refusal.detail });
      ClientResponse.answering(res, request).refuse(refusal, true);
      return;
    }
    const metrics = status?.metrics ?? null;
    const isMetrics = metrics !== null && request.path === metrics.path;
    if (status !== null && (isMetrics || status.path === null || request.path === status.path) && (request.method === 'GET' || request.method === 'HEAD')) {
      const refusal = statusRefusal(request, status.access);
      if (refusal === null && isMetrics) serveMetrics(res, request, metrics);
      else if (refusal === null) this.serveStatus(res, request, status.render());
      else {
        log.info('refused', { id: request.id, ...addressFields(request), endpoint: request.path, status: refusal.statusLine, why: refusal.detail });
        ClientResponse.answering(res, request).refuse(refusal, false);
      }
      return;
    }
    if (sessions !== null && underPrefix(sessions.store.settings.path, request.path)) {
      serveSessionHttp(res, request, sessions.store);
      return;
    }
    const route = routes?.match(request.path) ?? null;
    if (route !== null && routes !== null) {
      const observer = this.options.observer;
      // Observed from here, so that the metrics count the answers of the route's auth too.
      const observed = observer === undefined ? request : { ...request, answerObserver: observer.routeRequest(route.prefix) };
      this.serveOnceAdmitted(res, observed, route.auth, (response, admitted) => routes.serve(response, admitted, route));
      return;
    }
    if (bridge !== null && request.method === 'POST' && headerValue(request, 'websocksy-session') === 'open') {
      this.serveOnceAdmitted(res, request, this.parts.bridgeAuth, (response, admitted) => bridge.openOverHttp(response, admitted));
      return;
    }
    const answer = ClientResponse.answering(res, request);
    let refusal: Refusal;
    // A port with routes answers what no route claims with 404; a bridge-only port says what it is.
    if (bridge === null || (routes !== null && !routes.empty)) refusal = new Refusal(404, 'Not found', 'no route');
    else if (request.method !== 'GET' && request.method !== 'HEAD') {
      refusal = new Refusal(405, 'Method not allowed: this is a WebSocket endpoint', `method ${request.method}`, { Allow: 'GET' });
    } else {
      refusal = new Refusal(426, 'This is a WebSocket endpoint', 'plain HTTP request', { Upgrade: 'websocket', 'Sec-WebSocket-Version': '13' });
    }
    log.debug('refused', { id: request.id, endpoint: request.path, ...addressFields(request), status: refusal.statusLine, why: refusal.detail });
    // A client that asks a WebSocket endpoint for plain HTTP has nothing more to ask it.
    answer.refuse(refusal, true);
  }

  private serveStatus(res: HttpResponse, request: ClientRequest, status: object): void {
    const body = Buffer.from(JSON.stringify(status, null, 2));
    res.cork(() => sendDocument(res, request, 'application/json', body));
  }
}
