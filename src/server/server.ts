/*
 * A running websocksy server: its listeners (one Front each), the configuration they serve
 * (served.ts) and what outlives configurations (the tunnel runtime, the session store, the
 * connection caps).
 * SIGHUP reloads the whole configuration: the file is read and checked again as at start; a
 * configuration with any error is refused, logged, and the running one kept. A good one is
 * built beside the running one and every front switches to it (in place, or with a new listener
 * on the same port: front/app.ts): new connections and requests meet the new configuration,
 * WebSockets already open keep theirs until they close, after which the previous configuration
 * is closed (its routes' pools and modules, its backend unless the new one is the same).
 */
import { WsCloseCode } from '../core/api.js';
import { Admission } from '../core/admission.js';
import { loadConfiguration, type Configuration } from '../config/load.js';
import type { CommandLine } from '../config/command-line.js';
import { reloadScope } from '../config/reload-scope.js';
import { warnOfMistakes } from '../config/mistakes.js';
import type { BackendHost } from '../core/api.js';
import type { FramingRegistry } from '../framing/registry.js';
import { Front, type PreparedSwitch } from '../front/app.js';
import { Drain } from '../front/drain.js';
import type { ListenerTls } from '../front/tls-app.js';
import { errorMessage } from '../lib/errors.js';
import { log, setVerbose } from '../lib/log.js';
import { notifyDone, notifyReady, notifyReloading, notifyStopping } from '../lib/systemd-notify.js';
import { processOwner, runGuarded } from '../lib/guard.js';
import { observedByAll } from '../core/bridge-observer.js';
import { StatusPageFiles } from '../front/status-assets.js';
import { OPERATOR_CLOSE } from '../front/status-page.js';
import type { ServerMetrics } from '../metrics/server-metrics.js';
import { StatusHistory } from '../metrics/status-history.js';
import { Tunnels } from '../tunnel/runtime.js';
import { STATUS_LIST_LIMIT } from '../front/bridge-endpoint.js';
import { OWN_PORTS, type ListenPlan } from './listen-plan.js';
import { admissionLimitsOf, Served, sessionStoreOf, type Lasting } from './served.js';
import { LINK_HOST } from '../cluster/link.js';
import { nodeId } from '../cluster/registry.js';
import { Siblings } from '../cluster/siblings.js';
import type { ClusterConfig } from '../config/cluster.js';
import { warnOfOpenFileLimit } from './open-file-limit.js';

/** How often a retired configuration is asked whether its last WebSocket has closed. */
const RETIRED_CHECK_MS = 1000;
/**
 * A retired configuration is closed no sooner than its handshake-timeout after the reload (this
 * long, with none): upgrades still waiting for its backend or peer then have their answer, and
 * their sockets count, before anything of it is freed.
 */
const RETIRED_UNBOUNDED_WAIT_MS = 10_000;

export interface RunningServer {
  readonly port: number;
  /** A cluster's worker: the loopback port where its siblings relay to it. */
  readonly linkPort: number | null;
  /** What the main listener is, for systemd's STATUS: "listening on ADDRESS port PORT". */
  readonly listening: string;
  /** `[core] drain-timeout` in milliseconds. */
  readonly drainTimeoutMs: number;
  /** Stops accepting, drains for `drainMs` (0: not at all), closes what is left with 1001 and cleans up; `why` goes to the log. */
  stop(why: string, drainMs?: number): Promise<void>;
  /** Cuts a running drain short; false when none runs. */
  endDrain(): boolean;
  /** SIGHUP: reads the whole configuration again; resolves once it serves, or was refused. */
  reload(): Promise<void>;
  /**
   * What the status page's drain asks for: by default `stop` with the drain-timeout; the
   * command (command.ts) makes it SIGTERM's drain and exit.
   */
  onDrainRequest(handler: () => void): void;
}

/** A start that failed: the message for stderr. */
export class StartError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'StartError';
  }
}

const retiredOwner = processOwner('retired configuration');

function logCertificates(message: string, tls: ListenerTls, how?: string): void {
  const { default: main, names } = tls;
  log.info(message, { how, subject: main.subject, fingerprint: main.fingerprint, expires: main.validTo.toISOString(), names: [...names.keys()].join(',') || undefined });
  for (const [name, certificate] of names) log.info(message, { name, subject: certificate.subject, fingerprint: certificate.fingerprint, expires: certificate.validTo.toISOString() });
}

class Server implements RunningServer {
  private served: Served;
  /** Configurations a reload replaced that still serve WebSockets, with when each may close at the earliest. */
  private readonly retired = new Map<Served, number>();
  private retiredTimer: NodeJS.Timeout | null = null;
  private main: Front | null = null;
  private readonly extra: Front[] = [];
  private statusFront: Front | null = null;
  /** A cluster's worker's link (cluster/siblings.ts). */
  private link: Front | null = null;
  private stopped: Promise<void> | null = null;
  /** SIGTERM's drain, while it runs. */
  private drain: Drain | null = null;
  /** One reload at a time: a SIGHUP during one runs after it. */
  private reloading: Promise<void> = Promise.resolve();
  private drainRequested = (): void => void this.stop('status page', this.drainTimeoutMs);
  port = 0;
  linkPort: number | null = null;
  listening = '';

  constructor(
    configuration: Configuration,
    private readonly cli: CommandLine,
    private readonly host: BackendHost,
    private readonly lasting: Lasting,
    /** This worker's number in its host's cluster; 0 for a server without workers. */
    private readonly workerIndex: number,
  ) {
    this.served = new Served(configuration, lasting);
  }

  private get fronts(): Front[] {
    return [...(this.main === null ? [] : [this.main]), ...this.extra, ...(this.statusFront === null ? [] : [this.statusFront]), ...(this.link === null ? [] : [this.link])];
  }

  async start(plan: ListenPlan): Promise<void> {
    const { served } = this;
    const { configuration } = served;
    const { core, status } = configuration.setup;
    const { ports, shared } = plan;
    try {
      const main = new Front(served.mainParts(), served.frontOptions, configuration.tls?.loaded ?? null);
      this.main = main;
      await served.start();
      this.port = await main.listen(core.listen, ports?.main ?? core.port, shared);
      const { siblings } = this.lasting;
      if (served.linkOptions !== null && siblings !== null) {
        this.link = new Front(served.mainParts(), served.linkOptions);
        const where = linkAddressOf(configuration.setup.cluster, this.workerIndex);
        this.linkPort = await this.link.listen(where.listen, where.port);
        await siblings.registry.start(new URL(`http://${where.advertise.includes(':') ? `[${where.advertise}]` : where.advertise}:${this.linkPort}`));
      }
      for (const [index, listener] of configuration.extraListeners.entries()) {
        const front = new Front(served.extraParts(index), served.frontOptions);
        this.extra.push(front);
        log.info('listening for routes', { address: listener.listen, port: await front.listen(listener.listen, ports?.extra[index] ?? listener.port, shared) });
      }
      const statusListener = status?.listener ?? null;
      if (statusListener !== null) {
        this.statusFront = new Front(served.statusParts(), served.frontOptions);
        log.info('listening for status', { address: statusListener.listen, port: await this.statusFront.listen(statusListener.listen, ports?.status ?? statusListener.port, shared) });
      }
      if (status?.loopbackClientsOnly === true && status.tokenDigest === null) {
        log.warn('status without a token: served to clients on this host only; behind a proxy on this host set trusted-proxies, or give [status] token-file', { path: status.path });
      }
      await this.lasting.tunnels.start();
      if (status !== null) this.lasting.history.start();
    } catch (error) {
      for (const front of this.fronts) front.close();
      await this.lasting.siblings?.registry.close();
      this.lasting.admission.stop();
      this.lasting.tunnels.shutdown();
      await served.close(false, null);
      throw new StartError(errorMessage(error));
    }
    this.listening = `listening on ${core.listen} port ${this.port}`;
  }

  get drainTimeoutMs(): number {
    return this.served.configuration.setup.core.drainTimeout * 1000;
  }

  endDrain(): boolean {
    return this.drain?.end() ?? false;
  }

  stop(why: string, drainMs = 0): Promise<void> {
    this.stopped ??= (async () => {
      const { lasting } = this;
      notifyStopping();
      // Its identities are free for other nodes at once: their clients, told to go away, reconnect elsewhere.
      await lasting.siblings?.registry.close();
      if (drainMs > 0) {
        this.drain = new Drain({ fronts: this.fronts, admission: lasting.admission, sessions: lasting.sessions, tunnelServer: lasting.tunnels.server });
        await this.drain.run(why, drainMs);
      }
      log.info('shutting down', { signal: why, clients: [this.served, ...this.retired.keys()].reduce((sum, served) => sum + served.bridge.clients.size, 0), sessions: lasting.sessions.size });
      if (this.retiredTimer !== null) clearInterval(this.retiredTimer);
      lasting.history.stop();
      for (const front of this.fronts) front.endServing();
      lasting.admission.stop();
      lasting.sessions.shutdown(WsCloseCode.shutdown, 'Shutting down');
      const all = [this.served, ...this.retired.keys()];
      for (const served of all) served.closeClients(WsCloseCode.shutdown, 'Shutting down');
      lasting.tunnels.shutdown();
      // A backend several configurations share is cleaned up once, by the running one.
      await Promise.all(all.map((served) => served.close(false, served === this.served ? null : this.served.backend)));
      notifyDone();
    })();
    return this.stopped;
  }

  onDrainRequest(handler: () => void): void {
    this.drainRequested = handler;
  }

  /** The status page's drain: false once stopping. */
  drainFromPage(): boolean {
    if (this.stopped !== null) return false;
    this.drainRequested();
    return true;
  }

  /** The status page's close: the bridged connection `id`, of whichever configuration still serves it. */
  closeConnection(id: number): boolean {
    return [this.served, ...this.retired.keys()].some((served) => served.bridge.closeConnection(id, OPERATOR_CLOSE.code, OPERATOR_CLOSE.reason));
  }

  reload(): Promise<void> {
    this.reloading = this.reloading.then(() => this.reloadNow());
    return this.reloading;
  }

  private async reloadNow(): Promise<void> {
    if (this.stopped !== null) return;
    notifyReloading();
    const running = this.served.configuration;
    let outcome: string | null;
    try {
      outcome = await this.tryReload(running);
    } catch (error) {
      outcome = `unexpected failure: ${errorMessage(error)}`;
    }
    if (outcome !== null) log.error('reload refused: the running configuration stays', { why: outcome });
    if (this.stopped === null) notifyReady(`${this.listening}, ${outcome === null ? 'reloaded' : 'reload refused'}`);
  }

  /** Null once the new configuration serves; else why it does not. */
  private async tryReload(running: Configuration): Promise<string | null> {
    let next: Configuration;
    try {
      next = await loadConfiguration(this.cli, this.lasting.framings, this.host, running);
    } catch (error) {
      // One line per error, as at start (a ConfigErrors lists them all).
      return errorMessage(error).split('\n').join('; ');
    }
    const scope = reloadScope(running, next);
    const served = new Served(next, this.lasting);
    const switches: PreparedSwitch[] = [];
    /** Drops what this reload readied (the running backend stays, if the new one is the same) and says why. */
    const abandon = async (why: string): Promise<string> => {
      for (const prepared of switches) prepared.abort();
      await served.close(false, running.setup.backend);
      return why;
    };
    const refused = scope.refused ?? this.frontsRefuse(served);
    if (refused !== null) return abandon(refused);
    try {
      await served.start();
    } catch (error) {
      return abandon(`a route module's init failed: ${errorMessage(error)}`);
    }
    try {
      if (this.main !== null) switches.push(await this.main.prepare(served.mainParts(), served.frontOptions, next.tls?.loaded ?? null));
      for (const [index, front] of this.extra.entries()) switches.push(await front.prepare(served.extraParts(index), served.frontOptions, null));
      if (this.statusFront !== null) switches.push(await this.statusFront.prepare(served.statusParts(), served.frontOptions, null));
      if (this.link !== null && served.linkOptions !== null) switches.push(await this.link.prepare(served.mainParts(), served.linkOptions, null));
    } catch (error) {
      return abandon(errorMessage(error));
    }
    if (this.stopped !== null) return abandon('shutting down');
    // From here on nothing waits: every front switches in the same turn of the event loop.
    const mainHow = switches.map((prepared) => prepared.commit())[0] ?? 'no listener';
    this.lasting.admission.reconfigure(admissionLimitsOf(next));
    this.lasting.tunnels.reload();
    setVerbose(next.setup.core.verbose);
    // A [status] section a reload added is charted from now on.
    if (next.setup.status !== null) this.lasting.history.start();
    this.retire(this.served);
    this.served = served;
    warnOfMistakes(next);
    if (scope.kept.length > 0) log.warn('reload: these keep their running values until a restart', { changed: scope.kept.join('; ') });
    log.info('reloaded', { generation: next.generation, listener: mainHow, backend: next.bridge ? next.setup.backend.name : undefined, routes: next.setup.routes.length });
    if (next.tls !== null) logCertificates('tls reloaded', next.tls.loaded, mainHow.startsWith('new listener') ? 'new listener' : 'unchanged');
    return null;
  }

  /** Why a front cannot switch to `served` (a new listener it would need cannot share the port), or null: checked before anything starts. */
  private frontsRefuse(served: Served): string | null {
    try {
      this.main?.checkReconfigure(served.mainParts(), served.configuration.tls?.loaded ?? null);
      for (const [index, front] of this.extra.entries()) front.checkReconfigure(served.extraParts(index), null);
      this.statusFront?.checkReconfigure(served.statusParts(), null);
      return null;
    } catch (error) {
      return errorMessage(error);
    }
  }

  /** `previous` serves its open WebSockets until the last closes, then is closed. */
  private retire(previous: Served): void {
    const { handshakeTimeout } = previous.configuration.setup.core;
    this.retired.set(previous, Date.now() + (handshakeTimeout > 0 ? handshakeTimeout * 1000 : RETIRED_UNBOUNDED_WAIT_MS));
    this.retiredTimer ??= setInterval(() => runGuarded(retiredOwner, 'retired configurations', () => this.closeIdleRetired()), RETIRED_CHECK_MS);
    this.retiredTimer.unref();
  }

  private closeIdleRetired(): void {
    for (const [served, earliest] of this.retired) {
      if (Date.now() < earliest || served.openSockets() > 0) continue;
      this.retired.delete(served);
      const { generation } = served.configuration;
      // The running configuration may have kept this one's backend (config/load.ts).
      served.close(true, this.served.backend).then(
        () => log.info('previous configuration closed', { generation }),
        (error: unknown) => log.error('previous configuration did not close cleanly', { generation, error: errorMessage(error) }),
      );
    }
    if (this.retired.size === 0 && this.retiredTimer !== null) {
      clearInterval(this.retiredTimer);
      this.retiredTimer = null;
    }
  }

  /** The status JSON: the tunnels, every bridged connection of every configuration still serving, the sessions and the caps. */
  status(): object {
    const { tunnels, sessions, admission, siblings } = this.lasting;
    const bridges = [this.served, ...this.retired.keys()].map((served) => served.bridge.status());
    return {
      ...(siblings === null ? {} : { cluster: siblings.status() }),
      ...tunnels.status(),
      connectionsTotal: bridges.reduce((sum, one) => sum + one.total, 0),
      connections: bridges.flatMap((one) => one.list).slice(0, STATUS_LIST_LIMIT),
      sessions: sessions.status(),
      limits: admission.status(),
    };
  }
}

/** The status page's files, or null (with a warning) when the build left them out: the JSON is served all the same. */
function loadStatusPage(): StatusPageFiles | null {
  try {
    return StatusPageFiles.load();
  } catch (error) {
    log.warn('status page not served: its files were not built (make build)', { error: errorMessage(error) });
    return null;
  }
}

/** How a cluster's worker (cluster-worker.ts) runs a server: the ports it binds, and its metrics summed over the cluster. */
export interface ClusterRole {
  readonly index: number;
  readonly plan: ListenPlan;
  /** The host's other workers, as the primary keeps them. */
  readonly siblings: Siblings;
  serveMetrics(metrics: ServerMetrics): void;
}

/**
 * The other nodes of this one's cluster: with [cluster], the instances sharing its Redis (and the
 * workers of its host among them); else a worker's siblings, as its primary keeps them; else none.
 * The Redis client is loaded only here: every other start would pay for its modules (start-up).
 */
async function clusterSiblings(cluster: ClusterConfig | null, role: ClusterRole | null): Promise<Siblings | null> {
  if (cluster === null) return role?.siblings ?? null;
  const self = nodeId(cluster.instance, role?.index ?? 0);
  const { RedisRegistry } = await import('../cluster/redis-registry.js');
  const siblings = new Siblings(self, new RedisRegistry({ url: cluster.redis, self, ttlMs: cluster.ttlMs }));
  siblings.setSecret(cluster.secret);
  return siblings;
}

/**
 * Where a node's link listens, and the host others reach it at: [cluster]'s (its link-port,
 * plus one per worker after the first; 0 lets the system choose), else this host's loopback.
 */
function linkAddressOf(cluster: ClusterConfig | null, worker: number): { listen: string; port: number; advertise: string } {
  if (cluster === null) return { listen: LINK_HOST, port: 0, advertise: LINK_HOST };
  const port = cluster.linkPort === 0 ? 0 : cluster.linkPort + Math.max(0, worker - 1);
  return { listen: cluster.linkListen, port, advertise: cluster.advertise };
}

/** Starts serving `configuration` (loaded from `cli`), alone or as a `role` in a cluster; StartError when a listener or a route module fails. */
export async function startServer(configuration: Configuration, cli: CommandLine, framings: FramingRegistry, host: BackendHost, version: string, role: ClusterRole | null = null): Promise<RunningServer> {
  const { setup } = configuration;
  setVerbose(setup.core.verbose);
  warnOfMistakes(configuration);
  let server: Server | null = null;
  const siblings = await clusterSiblings(setup.cluster, role);
  const tunnels = new Tunnels(setup.tunnels, siblings);
  const metricsPath = setup.status?.metricsPath ?? null;
  // prom-client and the metrics' modules are loaded only for a server that serves them (start-up).
  const metrics = metricsPath === null ? null : new (await import('../metrics/server-metrics.js')).ServerMetrics(metricsPath);
  const sessions = sessionStoreOf(configuration, siblings);
  const history = new StatusHistory({ tunnels, sessions });
  let page: StatusPageFiles | null | undefined;
  const lasting: Lasting = {
    tunnels,
    sessions,
    admission: new Admission(admissionLimitsOf(configuration)),
    framings,
    metrics,
    history,
    bridgeObservers: observedByAll(metrics === null ? [history.observers] : [metrics.bridges, history.observers]),
    statusControl: {
      render: () => server?.status() ?? {},
      history: () => history.json(),
      closeConnection: (id) => server?.closeConnection(id) ?? false,
      closeTunnel: (shown) => tunnels.endByOperator(shown, OPERATOR_CLOSE.reason),
      closeSession: (id) => sessions?.endByOperator(id, OPERATOR_CLOSE.code, OPERATOR_CLOSE.reason) ?? false,
      drain: () => server?.drainFromPage() ?? false,
    },
    siblings,
    statusPage: () => {
      // Read once, even when missing: the warning is said once.
      if (page === undefined) page = loadStatusPage();
      return page;
    },
  };
  metrics?.watch(lasting);
  if (metrics !== null) role?.serveMetrics(metrics);
  server = new Server(configuration, cli, host, lasting, role?.index ?? 0);
  await server.start(role?.plan ?? OWN_PORTS);
  const { core } = setup;
  log.info('listening', { address: core.listen, port: server.port, link: server.linkPort ?? undefined, backend: configuration.bridge ? setup.backend.name : undefined, bridge: configuration.bridge ? undefined : 'off', version, tls: configuration.tls === null ? undefined : true });
  if (configuration.tls !== null) logCertificates('tls', configuration.tls.loaded);
  // Each worker has the limit; the first says it for all.
  if ((role?.index ?? 0) === 0) warnOfOpenFileLimit(core.maxConnections);
  return server;
}
