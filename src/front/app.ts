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
 * A reload (prepare) hands the front new parts: every handler reads the current view
 * (front-parts.ts), and each socket keeps the endpoint that accepted it (ws-behaviour.ts).
 */
import type { HttpRequest, HttpResponse, TemplatedApp, us_listen_socket, us_socket_context_t } from 'uWebSockets.js';
import type { AuthPolicy, AdmitResult } from '../auth/policy.js';
import type { Admission, AdmissionTicket } from '../core/admission.js';
import type { SocketData, SocketLimits, UpgradeAnswer, WsEndpoint } from '../core/endpoint.js';
import { Refusal, shuttingDownRefusal } from '../core/refusal.js';
import { addressFields, headerValue, offeredProtocols, type ClientRequest } from '../core/request.js';
import { ClientResponse } from '../http/client-response.js';
import { underPrefix } from '../http/route-table.js';
import { guarded, reportFault, runGuarded, type Guarded } from '../lib/guard.js';
import { log } from '../lib/log.js';
import type { LoadedCertificate } from '../lib/tls-certificate.js';
import { serveSessionHttp } from '../session/session-http.js';
import { TUNNEL_SUBPROTOCOL } from '../tunnel/protocol.js';
import type { ClientAddressPolicy } from './client-address.js';
import type { FrontObserver } from './front-observer.js';
import { checkHandshake, looksLikeUpgrade } from './handshake.js';
import { HeldRequest } from './held-request.js';
import { listenApp } from './listen.js';
import { LINK_HEADER } from '../cluster/link.js';
import type { Siblings } from '../cluster/siblings.js';
import { addServerName, createSslApp, type ListenerTls } from './tls-app.js';
import { PendingUpgrade, PendingUpgrades } from './pending-upgrade.js';
import { serveStatusRequest } from './status-page.js';
import { isRefused, readRequest, type RefusedRequest } from './request-reader.js';
import { sameCertificates, socketPatterns, type FrontParts, type View } from './front-parts.js';
import { sameLimits, socketBehaviour } from './ws-behaviour.js';
import { engine } from './engine.js';
import { logRefused, refusePlainRequest } from './refused.js';
import { extended } from '../lib/extended.js';

/** A reload readied on one front (Front.prepare): commit switches it and says how; abort drops it. */
export interface PreparedSwitch {
  commit(): string;
  abort(): void;
}

export interface FrontOptions {
  /** Upgrades that may wait for their answer at once; more get 503. */
  readonly maxPendingUpgrades: number;
  /** Which proxies' word on the client's address is believed (client-address.ts). */
  readonly clientAddresses: ClientAddressPolicy;
  /** How long an upgrade may wait for its answer before it gets 504; 0 = no bound. */
  readonly handshakeTimeoutMs: number;
  /** The connection caps, shared by every listener of the process and kept across reloads. */
  readonly admission: Admission;
  /** Hears refused handshakes and route requests (the metrics); none by default. */
  readonly observer?: FrontObserver | undefined;
  /** This front is a cluster's worker's link: it serves requests its siblings relay, and no one else (cluster/siblings.ts). */
  readonly siblings?: Siblings | undefined;
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

/** How long a replaced app's upgrades may still be served by the view it had (Front.replaced). */
const REPLACED_VIEW_MS = 10_000;

export class Front {
  private app: TemplatedApp;
  private listenSocket: us_listen_socket | null = null;
  /** Where it listens; `shareable`: a port given, not chosen by the system, which a new app can bind beside this one. */
  private address: { readonly host: string; readonly port: number; readonly shareable: boolean } | null = null;
  /** Apps replaced by a reload that needed a new listener: their connections live on, so they must too. */
  private readonly retired: TemplatedApp[] = [];
  /** The limits uWS holds for each WebSocket pattern of each app (fixed when registered). */
  private readonly registered = new Map<TemplatedApp, Map<string, SocketLimits>>();
  /** What every app serves, but one a reload readied and has not switched to yet (pinned). */
  private view: View;
  /** A new app, listening beside the old one until the switch, serves the new view already. */
  private readonly pinned = new Map<TemplatedApp, View>();
  /**
   * An app a reload replaced, with the view it served: a connection it accepted just before the
   * switch may still send its upgrade, for a pattern whose limits the new endpoints no longer have.
   */
  private readonly replaced = new Map<TemplatedApp, View>();
  private readonly pending: PendingUpgrades;
  private shuttingDown = false;
  /**
   * The server is past its drain and closing what serves requests (routes' pools, the status
   * page's sources): a request still arriving on a connection accepted earlier gets 503, which
   * a load balancer may retry anywhere since nothing was done, not a route's 502.
   */
  private servingEnded = false;

  /** `tls`: serve TLS with these certificates (SSLApp); null for plain HTTP and WebSocket. */
  constructor(
    parts: FrontParts,
    private options: FrontOptions,
    private tls: ListenerTls | null = null,
  ) {
    const { admission } = options;
    // The observer of the options in force when the refusal happens (a reload may change them).
    this.pending = new PendingUpgrades(options.maxPendingUpgrades, options.handshakeTimeoutMs, () => admission.count('handshake-timeout'), (refusal) => this.options.observer?.refused(refusal));
    this.view = { parts, patterns: socketPatterns(parts) };
    this.app = this.createApp(tls, this.view.patterns);
  }

  /** An app with every handler, for the WebSocket endpoints `patterns`. */
  private createApp(tls: ListenerTls | null, patterns: ReadonlyMap<string, WsEndpoint<SocketData>>): TemplatedApp {
    const app = tls === null ? engine().uws.App() : createSslApp(tls.default);
    this.registered.set(app, new Map());
    this.registerHandlers(app, patterns);
    for (const [name, certificate] of tls?.names ?? []) this.addServerName(app, name, certificate, patterns);
    return app;
  }

  /** uWS routes a request by its SNI name's own router: each name gets every handler too. */
  private addServerName(app: TemplatedApp, name: string, certificate: LoadedCertificate, patterns: ReadonlyMap<string, WsEndpoint<SocketData>>): void {
    addServerName(app, name, certificate);
    app.domain(name);
    this.registerHandlers(app, patterns);
  }

  /** Every handler, on the app's current router (the default one, or the SNI name last browsed to). */
  private registerHandlers(app: TemplatedApp, patterns: ReadonlyMap<string, WsEndpoint<SocketData>>): void {
    for (const [pattern, endpoint] of patterns) this.registerPattern(app, pattern, endpoint.limits);
    app.any('/*', (res, req) => this.request(res, req, this.viewOf(app)));
  }

  private registerPattern(app: TemplatedApp, pattern: string, limits: SocketLimits): void {
    app.ws<SocketData>(pattern, socketBehaviour(limits, (res, req, context) => this.upgrade(res, req, context, app, pattern, limits)));
    this.registered.get(app)?.set(pattern, limits);
  }

  private viewOf(app: TemplatedApp): View {
    return this.pinned.get(app) ?? this.view;
  }

  /** `shared`: the port is a cluster's, bound by its other workers too (server/listen-plan.ts). */
  async listen(host: string, port: number, shared = false): Promise<number> {
    const socket = await listenApp(this.app, host, port, shared);
    this.listenSocket = socket;
    const bound = engine().uws.us_socket_local_port(socket);
    this.address = { host, port: bound, shareable: port !== 0 };
    return bound;
  }

  /**
   * Why serving `parts` with `tls` takes a new app (a new listener), or null when the app in
   * use can: its certificates are the same, and every pattern it has keeps its limits. A new
   * pattern is registered in place, but not under SNI names: uWS has no way back from a name's
   * router to the default one.
   */
  private newAppNeeded(patterns: ReadonlyMap<string, WsEndpoint<SocketData>>, tls: ListenerTls | null): string | null {
    if (!sameCertificates(tls, this.tls)) return 'the certificates changed';
    const registered = this.registered.get(this.app) ?? new Map<string, SocketLimits>();
    for (const [pattern, endpoint] of patterns) {
      const limits = registered.get(pattern);
      if (limits === undefined && (this.tls?.names.size ?? 0) > 0) return `WebSocket path ${pattern} is new, under SNI names`;
      if (limits !== undefined && !sameLimits(limits, endpoint.limits)) return `the message or buffer limits of ${pattern} changed`;
    }
    return null;
  }

  /** newAppNeeded's answer; throws when that new app could not listen beside this one. */
  private newListenerNeeded(patterns: ReadonlyMap<string, WsEndpoint<SocketData>>, tls: ListenerTls | null): string | null {
    const why = this.newAppNeeded(patterns, tls);
    if (why !== null && this.address?.shareable === false) {
      throw new Error(`${why}, which takes a new listener beside this one; a port the system chose (port 0) cannot be shared: restart to apply`);
    }
    return why;
  }

  /** Throws when `parts` with `tls` cannot be served without a restart (see prepare). */
  checkReconfigure(parts: FrontParts, tls: ListenerTls | null): void {
    this.newListenerNeeded(socketPatterns(parts), tls);
  }

  /**
   * Readies serving `parts` with `tls` (a reload): the returned switch, run at once, makes every
   * new request, on any connection, go to `parts`; open WebSockets keep the endpoint that
   * accepted them. Throws (having changed nothing) when a new app cannot be made or bound.
   * In place when the app can (newAppNeeded). Otherwise a new app listens on the same port
   * beside the old one (uSockets binds with SO_REUSEPORT); the switch closes the old listen
   * socket, and the old app lives on, routers intact, for the connections it holds. There is no
   * engine call that swaps the default certificate, and swapping an SNI name in place is unsafe:
   * removeServerName frees the name's router while connections made under it still route
   * their next requests through it (a keep-alive request after the swap crashes uWS 20.30).
   * The kernel resets connections still in the old socket's accept queue at that moment unless
   * net.ipv4.tcp_migrate_req is 1 (docs/operations.md).
   */
  async prepare(parts: FrontParts, options: FrontOptions, tls: ListenerTls | null): Promise<PreparedSwitch> {
    const address = this.address;
    if (address === null || this.shuttingDown) throw new Error('this listener is not serving');
    const patterns = socketPatterns(parts);
    const why = this.newListenerNeeded(patterns, tls);
    const view = { parts, patterns };
    const switchParts = (): void => {
      this.view = view;
      this.options = options;
      this.pending.limit = options.maxPendingUpgrades;
      this.pending.timeoutMs = options.handshakeTimeoutMs;
    };
    if (why === null) {
      return {
        commit: () => {
          const registered = this.registered.get(this.app);
          for (const [pattern, endpoint] of patterns) if (registered?.has(pattern) !== true) this.registerPattern(this.app, pattern, endpoint.limits);
          switchParts();
          return 'in place';
        },
        abort: () => {},
      };
    }
    const app = this.createApp(tls, patterns);
    this.pinned.set(app, view);
    let socket: us_listen_socket;
    try {
      socket = await listenApp(app, address.host, address.port, true);
    } catch (error) {
      this.pinned.delete(app);
      throw error;
    }
    // Connections that arrived while the new app was built wait in the old socket's accept
    // queue: let one turn of the event loop accept them before that socket closes.
    await new Promise((resolve) => setImmediate(resolve));
    return {
      commit: () => {
        if (this.shuttingDown || this.listenSocket === null) {
          engine().uws.us_listen_socket_close(socket);
          return 'not at all: shutting down';
        }
        const old = this.app;
        this.replaced.set(old, this.view);
        setTimeout(() => this.replaced.delete(old), REPLACED_VIEW_MS).unref();
        switchParts();
        this.pinned.delete(app);
        engine().uws.us_listen_socket_close(this.listenSocket);
        this.retired.push(old);
        this.app = app;
        this.listenSocket = socket;
        this.tls = tls;
        return `new listener (${why})`;
      },
      abort: () => engine().uws.us_listen_socket_close(socket),
    };
  }

  /** Stops accepting and refuses the upgrades still waiting; open connections are their owners' to close. */
  close(): void {
    this.shuttingDown = true;
    if (this.listenSocket !== null) engine().uws.us_listen_socket_close(this.listenSocket);
    this.listenSocket = null;
    this.pending.refuseAll(shuttingDownRefusal());
  }

  /** After close(), when what serves requests closes too: requests still arriving are refused (503). */
  endServing(): void {
    this.close();
    this.servingEnded = true;
  }

  /**
   * The endpoint an upgrade on `request` belongs to and the auth that guards it, or a refusal.
   * The tunnel checks its own identities, and a session is resumed with its secret.
   */
  private upgradeTarget(parts: FrontParts, request: ClientRequest): { readonly endpoint: WsEndpoint<SocketData>; readonly auth: AuthPolicy | null } | Refusal {
    const { tunnel, routes, bridge, sessions } = parts;
    if (tunnel !== null && request.path === tunnel.path) return { endpoint: tunnel.endpoint, auth: null };
    if (sessions !== null && request.path === sessions.store.settings.path) return { endpoint: sessions.endpoint, auth: null };
    // A tunnel client that got the path wrong must learn so before it sends its credentials.
    if (offeredProtocols(request).includes(TUNNEL_SUBPROTOCOL)) {
      return new Refusal('not-found', 404, 'No tunnel endpoint at this path', `tunnel subprotocol offered on ${request.path}, which is not the tunnel path`);
    }
    const route = routes?.match(request.path) ?? null;
    const routeEndpoint = route === null ? null : (routes?.socketEndpointOf(route) ?? null);
    if (route !== null && routeEndpoint !== null) return { endpoint: routeEndpoint, auth: route.auth };
    if (bridge === null) return new Refusal('not-found', 404, 'No WebSocket endpoint here', `no WebSocket endpoint for ${request.path}`);
    return { endpoint: bridge, auth: parts.bridgeAuth };
  }

  /** Why an upgrade that uWS handed to `pattern` (whose sockets have `limits`) must be refused, or null to go ahead. */
  private upgradeRefusal(request: ClientRequest, view: View, pattern: string, limits: SocketLimits, chosen: ReturnType<Front['upgradeTarget']>): Refusal | null {
    const handshake = checkHandshake(request);
    if (handshake !== null) return handshake;
    if (chosen instanceof Refusal) return chosen;
    const target = chosen.endpoint;
    const owner = view.patterns.get(pattern);
    // uWS matched the raw path to another endpoint than the normalised one names.
    if (owner !== undefined && target !== owner) return new Refusal('bad-request', 400, 'Bad request: use the path as written without . or .. segments', `raw path ${request.rawPath} leads to ${target.name}, not ${owner.name}`);
    // A pattern a reload left unused, or an app a reload replaced, may hold other limits than the endpoint needs.
    if (!sameLimits(target.limits, limits)) return new Refusal('reconfigured', 503, 'Reconfigured: please connect again', `${pattern} has the limits of a previous configuration`, { 'Retry-After': '1' });
    if (this.shuttingDown) return shuttingDownRefusal();
    if (this.pending.size >= this.pending.limit) {
      return new Refusal('pending-handshakes', 503, 'Too many handshakes in progress', `${this.pending.size} upgrades waiting, limit ${this.pending.limit}`, { 'Retry-After': '1' });
    }
    return null;
  }

  /** The view an upgrade on `app`'s `pattern` is served by: the current one, unless only the one `app` served before a reload has the pattern's limits. */
  private upgradeView(app: TemplatedApp, request: ClientRequest, limits: SocketLimits): View {
    const view = this.viewOf(app);
    const before = this.replaced.get(app);
    if (before === undefined) return view;
    const target = this.upgradeTarget(view.parts, request);
    return target instanceof Refusal || sameLimits(target.endpoint.limits, limits) ? view : before;
  }

  private upgrade(res: HttpResponse, req: HttpRequest, context: us_socket_context_t, app: TemplatedApp, pattern: string, limits: SocketLimits): void {
    const id = nextId();
    try {
      const read = this.readRequest(res, req, id);
      if (isRefused(read)) {
        this.refuseRequest(res, read, false);
        return;
      }
      const view = this.upgradeView(app, read, limits);
      const target = this.upgradeTarget(view.parts, read);
      const auth = target instanceof Refusal ? null : target.auth;
      // From here on, nothing (the log included) sees the credential.
      const request = auth === null ? read : auth.withoutCredentials(read);
      const key = req.getHeader('sec-websocket-key');
      const refusal = this.upgradeRefusal(request, view, pattern, limits, target);
      const admitted = refusal === null ? this.options.admission.admit(id, request.clientAddress, null) : refusal;
      if (admitted instanceof Refusal) {
        this.pending.refuseAtOnce(res, request, admitted);
        return;
      }
      // upgradeRefusal refuses every upgrade without an endpoint.
      const { endpoint } = target as Exclude<typeof target, Refusal>;
      const answer = new PendingUpgrade(res, request, key, '', context, this.pending, admitted, endpoint);
      if (auth === null) runGuarded(answer, `${endpoint.name} upgrade`, () => endpoint.upgrade(request, answer));
      else runGuarded(answer, `${endpoint.name} auth`, () => this.upgradeOnceAdmitted(auth, read, request, answer, endpoint, admitted));
      answer.leftUwsHandler();
    } catch (error) {
      reportFault(requestOwner(res, id), `upgrade on ${pattern}`, error);
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
      else endpoint.upgrade(extended(request, { auth: result }), answer);
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
        serve(response, extended(request, { auth: result }));
        return;
      }
      refusePlainRequest(response, request, result);
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

  private request(res: HttpResponse, req: HttpRequest, view: View): void {
    const id = nextId();
    try {
      const read = this.readRequest(res, req, id);
      if (isRefused(read)) this.refuseRequest(res, read, true);
      else this.dispatch(res, read, view.parts);
    } catch (error) {
      reportFault(requestOwner(res, id), 'request', error);
    }
  }

  /** readRequest, and on a link, the sibling's proof (a request without it is refused before anything reads it). */
  private readRequest(res: HttpResponse, req: HttpRequest, id: number): ClientRequest | RefusedRequest {
    const read = readRequest(res, req, id, this.options.clientAddresses);
    const { siblings } = this.options;
    if (siblings === undefined || isRefused(read)) return read;
    if (siblings.admits(headerValue(read, LINK_HEADER))) return extended(read, { fromSibling: true });
    // Its X-Forwarded-For is believed from siblings alone: the log names the TCP peer.
    return extended(read, { clientAddress: read.remoteAddress, refusal: new Refusal('forbidden', 403, 'Forbidden: this port serves the nodes of a websocksy cluster', `no ${LINK_HEADER} with the cluster's secret on a cluster link`) });
  }

  private refuseRequest(res: HttpResponse, read: RefusedRequest, plain: boolean): void {
    const { refusal } = read;
    if (!plain) this.options.observer?.refused(refusal);
    logRefused(read, refusal, read.rawPath, plain ? read.method : undefined);
    ClientResponse.answering(res, read).refuse(refusal, true);
  }

  private dispatch(res: HttpResponse, request: ClientRequest, parts: FrontParts): void {
    if (this.servingEnded) {
      refusePlainRequest(res, request, shuttingDownRefusal(), true);
      return;
    }
    const { status, routes, bridge, sessions } = parts;
    if (looksLikeUpgrade(request)) {
      // uWS sends WebSocket routes only handshakes with a 24-character key; the rest land here.
      const refusal = checkHandshake(request) ?? new Refusal('not-found', 404, 'No WebSocket endpoint here', `no WebSocket endpoint for ${request.path}`);
      const target = this.upgradeTarget(parts, request);
      const shown = target instanceof Refusal || target.auth === null ? request : target.auth.withoutCredentials(request);
      this.options.observer?.refused(refusal);
      logRefused(request, refusal, shown.path + shown.search);
      ClientResponse.answering(res, request).refuse(refusal, true);
      return;
    }
    if (status !== null && serveStatusRequest(res, request, status)) return;
    if (sessions !== null && underPrefix(sessions.store.settings.path, request.path)) {
      serveSessionHttp(res, request, sessions.store);
      return;
    }
    const route = routes?.match(request.path) ?? null;
    if (route !== null && routes !== null) {
      const observer = this.options.observer;
      // Observed from here, so that the metrics count the answers of the route's auth too.
      const observed = observer === undefined ? request : extended(request, { answerObserver: observer.routeRequest(route.prefix) });
      // The sibling that relayed the request admitted it, and took its credential off.
      const auth = request.fromSibling === true ? null : route.auth;
      this.serveOnceAdmitted(res, observed, auth, (response, admitted) => routes.serve(response, admitted, route));
      return;
    }
    if (bridge !== null && request.method === 'POST' && headerValue(request, 'websocksy-session') === 'open') {
      this.serveOnceAdmitted(res, request, parts.bridgeAuth, (response, admitted) => bridge.openOverHttp(response, admitted));
      return;
    }
    const answer = ClientResponse.answering(res, request);
    let refusal: Refusal;
    // A port with routes answers what no route claims with 404; a bridge-only port says what it is.
    if (bridge === null || (routes !== null && !routes.empty)) refusal = new Refusal('not-found', 404, 'Not found', 'no route');
    else if (request.method !== 'GET' && request.method !== 'HEAD') {
      refusal = new Refusal('method', 405, 'Method not allowed: this is a WebSocket endpoint', `method ${request.method}`, { Allow: 'GET' });
    } else {
      refusal = new Refusal('websocket-only', 426, 'This is a WebSocket endpoint', 'plain HTTP request', { Upgrade: 'websocket', 'Sec-WebSocket-Version': '13' });
    }
    logRefused(request, refusal, request.path, undefined, 'debug');
    // A client that asks a WebSocket endpoint for plain HTTP has nothing more to ask it.
    answer.refuse(refusal, true);
  }
}
