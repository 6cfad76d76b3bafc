/*
 * What one configuration serves: the bridge with its backend, the routes, the resumable
 * sessions' endpoint and the parts each listener's front gets. A reload builds a new one beside
 * the running one and the fronts switch to it; the previous one keeps serving the WebSockets it
 * accepted and is closed once the last of them ends (server.ts). The tunnel runtime, the session
 * store and the connection caps are the process's (Lasting) and outlive every reload.
 */
import { WsCloseCode, type Backend } from '../core/api.js';
import { Admission, type AdmissionLimits } from '../core/admission.js';
import type { SocketData, WsEndpoint } from '../core/endpoint.js';
import { closedGate, listGate, openGate, type PeerGate } from '../core/peer-gate.js';
import { steeredBy } from '../backends/fixed-answers.js';
import type { Configuration } from '../config/load.js';
import { peerBufferOf } from '../config/core-options.js';
import type { FramingRegistry } from '../framing/registry.js';
import type { Siblings } from '../cluster/siblings.js';
import { AddressList } from '../lib/address-list.js';
import type { FrontOptions } from '../front/app.js';
import type { FrontParts } from '../front/front-parts.js';
import { BridgeEndpoint, routePeerBackend } from '../front/bridge-endpoint.js';
import type { BridgeObservers } from '../core/bridge-observer.js';
import type { StatusPageFiles } from '../front/status-assets.js';
import type { StatusControl, StatusEndpoints } from '../front/status-page.js';
import type { ServerMetrics } from '../metrics/server-metrics.js';
import type { StatusHistory } from '../metrics/status-history.js';
import { socketsOpenOn } from '../front/ws-behaviour.js';
import type { Route } from '../http/route-table.js';
import { HttpRoutes, type PeerTarget } from '../http/routes.js';
import type { DestinationAllowList } from '../lib/destination-allow.js';
import { errorMessage } from '../lib/errors.js';
import { log } from '../lib/log.js';
import { ResumeEndpoint } from '../session/resume-endpoint.js';
import { SessionStore } from '../session/session-store.js';
import type { Tunnels } from '../tunnel/runtime.js';

/** What outlives reloads: their state is the process's (live tunnel sessions, resumable sessions, connection counts). */
export interface Lasting {
  readonly tunnels: Tunnels;
  readonly sessions: SessionStore;
  readonly admission: Admission;
  readonly framings: FramingRegistry;
  /** The Prometheus metrics, when `[status] metrics` was set at start. */
  readonly metrics: ServerMetrics | null;
  /** The status page's charts: sampled while a [status] section is configured. */
  readonly history: StatusHistory;
  /** Who hears every bridge open and close: the history, and the metrics when there are. */
  readonly bridgeObservers: BridgeObservers;
  /** The status endpoints' reads and actions, over the whole process and every configuration still serving. */
  readonly statusControl: StatusControl;
  /** The status page's built files, read at their first use; null when they are missing. */
  readonly statusPage: () => StatusPageFiles | null;
  /** The cluster's other workers, when this process is one (cluster/siblings.ts). */
  readonly siblings: Siblings | null;
}

/** The bridge's gate (core/peer-gate.ts): allow-peers if set, else open only for a backend whose answers the config fixes. */
function bridgeGate(backend: Backend, allowPeers: DestinationAllowList | null): PeerGate {
  if (allowPeers !== null) return listGate(allowPeers, '[core] allow-peers');
  const steered = steeredBy(backend);
  if (steered === null) return openGate;
  log.warn('allow-peers is not set: every upgrade the bridge would send to a peer is refused', { backend: backend.name, why: steered });
  return closedGate(steered);
}

/** The caps a configuration sets (Admission is made once, then reconfigured). */
export function admissionLimitsOf(configuration: Configuration): AdmissionLimits {
  const { core } = configuration.setup;
  return {
    maxConnections: core.maxConnections,
    maxPerAddress: core.maxConnectionsPerAddress,
    maxPerIdentity: core.maxConnectionsPerIdentity,
    idleTimeoutMs: core.idleTimeout * 1000,
    rateLimit: core.rateLimit,
    identityRateLimit: core.identityRateLimit,
  };
}

/** The session store's settings: made once, at start (config/reload-scope.ts keeps them). */
export function sessionStoreOf(configuration: Configuration, siblings: Siblings | null): SessionStore {
  const { core } = configuration.setup;
  return new SessionStore(
    {
    path: core.sessionPath,
    maxSessions: core.sessionLimit,
    limits: { ...bridgeLimitsOf(configuration), sessionBuffer: core.sessionBuffer, graceMs: core.sessionGrace * 1000 },
    },
    siblings,
  );
}

function bridgeLimitsOf(configuration: Configuration): { maxMessage: number; frameLimit: number; clientBuffer: number; peerBuffer: number } {
  const { core } = configuration.setup;
  return { maxMessage: core.maxMessage, frameLimit: core.frameLimit, clientBuffer: core.clientBuffer, peerBuffer: peerBufferOf(core) };
}

const EVERY_ADDRESS = AddressList.parse('0.0.0.0/0, ::/0');

export class Served {
  readonly bridge: BridgeEndpoint;
  readonly routes: HttpRoutes;
  /** west's listeners beyond the main one, each with its routes, in the configuration's order. */
  readonly extraRoutes: HttpRoutes[];
  private readonly resume: ResumeEndpoint;
  readonly frontOptions: FrontOptions;
  /** A cluster's worker: its link's, which serves what the main listener does, to its siblings alone. */
  readonly linkOptions: FrontOptions | null;

  constructor(
    readonly configuration: Configuration,
    private readonly lasting: Lasting,
  ) {
    const { setup } = configuration;
    const { core } = setup;
    const { sessions, tunnels } = lasting;
    const bridgeLimits = bridgeLimitsOf(configuration);
    const opener = {
      backend: setup.backend,
      framing: (name: string) => lasting.framings.get(name),
      connectTimeoutMs: core.connectTimeout * 1000,
      backendTimeoutMs: core.backendTimeout * 1000,
      earlyUpgrade: core.earlyUpgrade,
      gate: bridgeGate(setup.backend, core.allowPeers),
      observers: lasting.bridgeObservers,
    };
    const bridge = new BridgeEndpoint(opener, bridgeLimits, sessions);
    this.bridge = bridge;
    const routeOptions = {
      isTrustedProxy: (address: string) => core.trustedProxies.has(address),
      peerEndpoint: (route: Route, target: PeerTarget) => {
        // A peer route's address is the config's own: open, unless the route has an allow-list.
        const gate = target.allow === null ? openGate : listGate(target.allow, `allow of [route ${route.prefix}]`);
        return new BridgeEndpoint({ ...opener, backend: routePeerBackend(route, target), gate }, bridgeLimits, sessions, `route ${route.prefix}`, bridge.clients);
      },
      clientProto: 'http' as const,
      observers: lasting.bridgeObservers,
      keptAlive: bridge.clients,
    };
    this.routes = new HttpRoutes(setup.routes, tunnels, { ...routeOptions, clientProto: configuration.tls === null ? 'http' : 'https' }, configuration.routeModules);
    this.extraRoutes = configuration.extraListeners.map((extra) => new HttpRoutes(extra.routes, tunnels, routeOptions));
    this.resume = new ResumeEndpoint(bridge.clients, bridge.limits, sessions);
    this.frontOptions = {
      maxPendingUpgrades: core.maxHandshakes,
      handshakeTimeoutMs: core.handshakeTimeout * 1000,
      admission: lasting.admission,
      observer: lasting.metrics?.front,
      clientAddresses: { trustedProxies: core.trustedProxies, proxyProtocol: core.proxyProtocol, header: core.clientAddressHeader },
    };
    const { siblings } = lasting;
    // A sibling names the client it saw, alone, in X-Forwarded-For; a request without the cluster's secret is refused before anything reads it.
    const linkAddresses = { trustedProxies: EVERY_ADDRESS, proxyProtocol: 'off' as const, header: 'x-forwarded-for' as const };
    this.linkOptions = siblings === null ? null : { ...this.frontOptions, clientAddresses: linkAddresses, siblings };
  }

  get backend(): Backend {
    return this.configuration.setup.backend;
  }

  /** Runs the route modules' init(); then the keep-alive pings of the bridge's clients. */
  async start(): Promise<void> {
    await this.routes.start();
    this.bridge.clients.keepAlive(this.configuration.setup.core.ping);
  }

  private get status(): StatusEndpoints | null {
    const config = this.configuration.setup.status;
    const { lasting } = this;
    return config === null ? null : { path: config.path, base: config.path, access: config, metrics: lasting.metrics, control: lasting.statusControl, page: lasting.statusPage() };
  }

  /** The main listener's parts. */
  mainParts(): FrontParts {
    const { configuration, routes, bridge, lasting } = this;
    const tunnelServer = lasting.tunnels.server;
    // Without the bridge, the session path serves only the sessions of resumable peer routes.
    const sessions = configuration.bridge || routes.hasResumablePeer ? { store: lasting.sessions, endpoint: this.resume } : null;
    const status = configuration.setup.status?.listener === null ? this.status : null;
    return {
      bridge: configuration.bridge ? bridge : null,
      bridgeAuth: configuration.setup.bridgeAuth,
      sessions,
      tunnel: tunnelServer === null ? null : { path: tunnelServer.config.path, endpoint: tunnelServer },
      routes,
      status,
    };
  }

  /** The parts of west's extra listener `index`: its routes, and the session path where a resumable peer route needs it. */
  extraParts(index: number): FrontParts {
    const routes = this.extraRoutes[index] as HttpRoutes;
    const sessions = routes.hasResumablePeer ? { store: this.lasting.sessions, endpoint: this.resume } : null;
    return { bridge: null, bridgeAuth: null, sessions, tunnel: null, routes, status: null };
  }

  /** A status listener of its own answers at every path, as west's cp did. */
  statusParts(): FrontParts {
    const status = this.status;
    return { bridge: null, bridgeAuth: null, sessions: null, tunnel: null, routes: null, status: status === null ? null : { ...status, path: null } };
  }

  /** The WebSockets this configuration's endpoints serve (the tunnel's belong to the lasting runtime). */
  openSockets(): number {
    const endpoints: Array<WsEndpoint<SocketData>> = [this.bridge, this.resume, ...[this.routes, ...this.extraRoutes].flatMap((routes) => routes.socketEndpoints().map(({ endpoint }) => endpoint))];
    return endpoints.reduce((sum, endpoint) => sum + socketsOpenOn(endpoint), 0);
  }

  /** Shutdown: every client of this configuration gets `code`. */
  closeClients(code: number, reason: string): void {
    this.bridge.clients.closeAll(code, reason);
  }

  /**
   * Frees what this configuration holds: the routes' pools and modules (`gently`, when a reload
   * retires it: requests in flight finish), and its backend unless `keep` (the next
   * configuration) runs the same one.
   */
  async close(gently: boolean, keep: Backend | null): Promise<void> {
    this.bridge.clients.closeAll(WsCloseCode.shutdown, 'Shutting down');
    await Promise.all([this.routes, ...this.extraRoutes].map((routes) => routes.close(gently)));
    if (this.backend === keep) return;
    try {
      await this.backend.cleanup?.();
    } catch (error) {
      log.error('backend cleanup failed', { backend: this.backend.name, error: errorMessage(error) });
    }
  }
}
