/*
 * websocksy's composition root: read the command line and the configuration, build the pieces
 * (backend and framing plugins, the bridge, tunnels, routes, the front that serves them all),
 * listen, and shut down cleanly on SIGINT/SIGTERM: every client gets 1001, what was accepted
 * is delivered to the peers, the backend cleans up. SIGHUP re-reads the tunnel identities and
 * the listener's certificates and the files of the [auth] sections.
 * `websocksy forward ...` is the port-forwarding client.
 */
import { createRequire } from 'node:module';
import type { Backend, BackendHost } from './core/api.js';
import type { DestinationAllowList } from './lib/destination-allow.js';
import { PEER_LINGER_MS } from './core/bridge.js';
import { closedGate, listGate, openGate, type PeerGate } from './core/peer-gate.js';
import { steeredBy } from './backends/fixed-answers.js';
import { PluginError } from './core/plugin-error.js';
import { WsCloseCode } from './core/api.js';
import { Admission } from './core/admission.js';
import { parseStatusCommand, runStatus, STATUS_USAGE } from './cli/status.js';
import { parseCommandLine, usage } from './config/command-line.js';
import { unusedAuthSections } from './config/apply.js';
import { peerBufferOf } from './config/core-options.js';
import { parseForwardCommand, FORWARD_USAGE } from './config/forward-command.js';
import { loadConfiguration, type Configuration } from './config/load.js';
import { ConfigError } from './config/settings.js';
import { createFramingRegistry } from './framing/index.js';
import type { FramingRegistry } from './framing/registry.js';
import { Front } from './front/app.js';
import { BridgeEndpoint, routePeerBackend } from './front/bridge-endpoint.js';
import { EngineError, glibcVersion, JS_ENGINE_COST, selectEngine, type Engine } from './front/engine.js';
import type { ListenerTls } from './front/tls-app.js';
import { loadListenerTls } from './config/tls.js';
import type { Route } from './http/route-table.js';
import { HttpRoutes, type PeerTarget } from './http/routes.js';
import { ServerMetrics } from './metrics/server-metrics.js';
import { ResumeEndpoint } from './session/resume-endpoint.js';
import { SessionStore } from './session/session-store.js';
import { errorMessage } from './lib/errors.js';
import { flushLog, log, setLogFormat, setVerbose } from './lib/log.js';
import { notifyReady, notifyReloading, notifyStopping } from './lib/systemd-notify.js';
import { TunnelClient } from './tunnel/client.js';
import { Tunnels } from './tunnel/runtime.js';

/** How long closing connections get to deliver what they accepted before the process exits anyway. */
const SHUTDOWN_GRACE_MS = PEER_LINGER_MS + 1000;

export function packageVersion(): string {
  const require = createRequire(import.meta.url);
  return (require('../../package.json') as { version: string }).version;
}

class ExitError extends Error {
  constructor(
    message: string,
    readonly exitCode: number,
  ) {
    super(message);
    this.name = 'ExitError';
  }
}

/**
 * Loads the WebSocket engine and says which one runs: a server that would silently serve on the
 * JS fallback is refused (exit 69, EX_UNAVAILABLE) unless the user asked for it.
 */
function startEngine(allowJs: boolean): void {
  let engine: Engine;
  try {
    engine = selectEngine(allowJs);
  } catch (error) {
    if (error instanceof EngineError) throw new ExitError(error.message, 69);
    throw error;
  }
  const fields = { build: engine.build, uws: engine.version, package: engine.source, node: process.version, glibc: glibcVersion() };
  for (const reason of engine.skipped) log.debug('engine build skipped', { reason });
  if (engine.native) log.info('engine native', fields);
  else log.warn('engine JS fallback', { ...fields, cost: JS_ENGINE_COST, skipped: engine.skipped.join('; ') });
  if (engine.caveat !== null) log.warn('engine caveat', { uws: engine.version, caveat: engine.caveat });
}

/** `--version`'s second line: the engine this Node would run on, or why none would. */
function engineSummary(): string {
  const platform = `Node ${process.version}, glibc ${glibcVersion()}`;
  try {
    const engine = selectEngine(false);
    return `engine: uWS ${engine.version} native (${engine.build} from ${engine.source}; ${platform})`;
  } catch (error) {
    if (error instanceof EngineError) return `engine: none native on ${platform} (only websocksy's JS engine, with --allow-js-engine; docs/engine.md)`;
    throw error;
  }
}

export interface RunningServer {
  readonly port: number;
  /** What the main listener is, for systemd's STATUS: "listening on ADDRESS port PORT". */
  readonly listening: string;
  /** Stops accepting, closes every connection with 1001 and cleans up; `why` goes to the log. */
  stop(why: string): Promise<void>;
  /** SIGHUP: re-reads the tunnel identities, the certificates and the files of the [auth] sections; resolves once the new certificates serve (or were refused). */
  reload(): Promise<void>;
}

/** The bridge's gate (core/peer-gate.ts): allow-peers if set, else open only for a backend whose answers the config fixes. */
function bridgeGate(backend: Backend, allowPeers: DestinationAllowList | null): PeerGate {
  if (allowPeers !== null) return listGate(allowPeers, '[core] allow-peers');
  const steered = steeredBy(backend);
  if (steered === null) return openGate;
  log.warn('allow-peers is not set: every upgrade the bridge would send to a peer is refused', { backend: backend.name, why: steered });
  return closedGate(steered);
}

interface Configured {
  readonly configuration: Configuration;
  readonly framings: FramingRegistry;
}

async function configure(argv: readonly string[]): Promise<Configured | null> {
  let cli;
  try {
    cli = parseCommandLine(argv);
  } catch (error) {
    throw new ExitError(errorMessage(error), 2);
  }
  if (cli.help) {
    process.stdout.write(usage() + '\n');
    return null;
  }
  if (cli.version) {
    process.stdout.write(`websocksy ${packageVersion()}\n${engineSummary()}\n`);
    return null;
  }
  const framings = createFramingRegistry();
  const host: BackendHost = { framing: (name) => framings.get(name), warn: (message) => log.warn(message) };
  let configuration: Configuration;
  try {
    configuration = await loadConfiguration(cli, framings, host);
  } catch (error) {
    throw new ExitError(errorMessage(error), error instanceof ConfigError || error instanceof PluginError ? 1 : 70);
  }
  if (cli.check) {
    await configuration.setup.backend.cleanup?.();
    process.stdout.write(`${cli.configFile ?? 'the command line'}: the configuration is valid\n`);
    return null;
  }
  return { configuration, framings };
}

/** Starts a server for `argv` (the command line without `websocksy`); null when it only printed help or the version, or checked the configuration. */
export async function startServer(argv: readonly string[]): Promise<RunningServer | null> {
  const configured = await configure(argv);
  if (configured === null) return null;
  const { configuration, framings } = configured;
  const { setup } = configuration;
  const { core } = setup;
  setVerbose(core.verbose);
  for (const name of unusedAuthSections(setup)) log.warn('auth section guards nothing', { section: name, fix: `name it in [core] auth or a route's auth` });
  startEngine(core.allowJsEngine);

  const tunnels = new Tunnels(setup.tunnels);
  const metrics = setup.status?.metricsPath != null ? new ServerMetrics(setup.status.metricsPath) : null;
  const bridgeLimits = { maxMessage: core.maxMessage, frameLimit: core.frameLimit, clientBuffer: core.clientBuffer, peerBuffer: peerBufferOf(core) };
  const sessions = new SessionStore({
    path: core.sessionPath,
    maxSessions: core.sessionLimit,
    limits: { ...bridgeLimits, sessionBuffer: core.sessionBuffer, graceMs: core.sessionGrace * 1000 },
  });
  const opener = {
    backend: setup.backend,
    framing: (name: string) => framings.get(name),
    connectTimeoutMs: core.connectTimeout * 1000,
    backendTimeoutMs: core.backendTimeout * 1000,
    gate: bridgeGate(setup.backend, core.allowPeers),
    observers: metrics?.bridges,
  };
  const bridge = new BridgeEndpoint(opener, bridgeLimits, sessions);
  const routeOptions = {
    isTrustedProxy: (address: string) => core.trustedProxies.has(address),
    peerEndpoint: (route: Route, target: PeerTarget) => {
      // A peer route's address is the config's own: open, unless the route has an allow-list.
      const gate = target.allow === null ? openGate : listGate(target.allow, `allow of [route ${route.prefix}]`);
      return new BridgeEndpoint({ ...opener, backend: routePeerBackend(route, target), gate }, bridgeLimits, sessions, `route ${route.prefix}`, bridge.clients);
    },
    clientProto: 'http' as const,
  };
  const routes = new HttpRoutes(setup.routes, tunnels, { ...routeOptions, clientProto: configuration.tls === null ? 'http' : 'https' }, configuration.routeModules);
  const resume = new ResumeEndpoint(bridge.clients, bridge.limits, sessions);
  const admission = new Admission({
    maxConnections: core.maxConnections,
    maxPerAddress: core.maxConnectionsPerAddress,
    maxPerIdentity: core.maxConnectionsPerIdentity,
    idleTimeoutMs: core.idleTimeout * 1000,
    rateLimit: core.rateLimit,
    identityRateLimit: core.identityRateLimit,
  });
  metrics?.watch({ sessions, tunnels, admission });
  const frontOptions = {
    maxPendingUpgrades: core.maxHandshakes,
    handshakeTimeoutMs: core.handshakeTimeout * 1000,
    admission,
    clientAddresses: { trustedProxies: core.trustedProxies, proxyProtocol: core.proxyProtocol, header: core.clientAddressHeader },
    observer: metrics?.front,
  };
  const render = (): object => {
    const connections = bridge.status();
    return { ...tunnels.status(), connectionsTotal: connections.total, connections: connections.list, sessions: sessions.status(), limits: admission.status() };
  };
  const statusConfig = setup.status;
  const status = statusConfig === null ? null : { path: statusConfig.path, access: statusConfig, render, metrics };
  const tunnelServer = tunnels.server;
  // Without the bridge, the session path serves only the sessions of resumable peer routes.
  const mainSessions = configuration.bridge || routes.hasResumablePeer ? { store: sessions, endpoint: resume } : null;
  let main: Front;
  try {
    main = new Front(
      { bridge: configuration.bridge ? bridge : null, bridgeAuth: setup.bridgeAuth, sessions: mainSessions, tunnel: tunnelServer === null ? null : { path: tunnelServer.config.path, endpoint: tunnelServer }, routes, status: statusConfig?.listener === null ? status : null },
      frontOptions,
      configuration.tls?.loaded ?? null,
    );
  } catch (error) {
    throw new ExitError(errorMessage(error), 1);
  }
  const fronts: Front[] = [main];
  const extraRoutes: HttpRoutes[] = [];
  let port: number;
  try {
    await routes.start();
    port = await main.listen(core.listen, core.port);
    bridge.clients.keepAlive(core.ping);
    for (const extra of configuration.extraListeners) {
      const extraRoutesOf = new HttpRoutes(extra.routes, tunnels, routeOptions);
      extraRoutes.push(extraRoutesOf);
      // A listener with a resumable peer route serves the session path, where its sessions resume.
      const extraSessions = extraRoutesOf.hasResumablePeer ? { store: sessions, endpoint: resume } : null;
      const front = new Front({ bridge: null, bridgeAuth: null, sessions: extraSessions, tunnel: null, routes: extraRoutesOf, status: null }, frontOptions);
      fronts.push(front);
      log.info('listening for routes', { address: extra.listen, port: await front.listen(extra.listen, extra.port) });
    }
    const statusListener = statusConfig?.listener ?? null;
    if (statusListener !== null) {
      // A status listener of its own answers at every path, as west's cp did.
      const front = new Front({ bridge: null, bridgeAuth: null, sessions: null, tunnel: null, routes: null, status: status === null ? null : { ...status, path: null } }, frontOptions);
      fronts.push(front);
      log.info('listening for status', { address: statusListener.listen, port: await front.listen(statusListener.listen, statusListener.port) });
    }
    if (statusConfig?.loopbackClientsOnly === true && statusConfig.tokenDigest === null) {
      log.warn('status without a token: served to clients on this host only; behind a proxy on this host set trusted-proxies, or give [status] token-file', { path: statusConfig.path });
    }
    await tunnels.start();
  } catch (error) {
    for (const front of fronts) front.close();
    admission.stop();
    tunnels.shutdown();
    await routes.close();
    throw new ExitError(errorMessage(error), 1);
  }
  log.info('listening', { address: core.listen, port, backend: configuration.bridge ? setup.backend.name : undefined, bridge: configuration.bridge ? undefined : 'off', version: packageVersion(), tls: configuration.tls === null ? undefined : true });
  if (configuration.tls !== null) logCertificates('tls', configuration.tls.loaded);

  const listening = `listening on ${core.listen} port ${port}`;
  let stopped: Promise<void> | null = null;
  const stop = (why: string): Promise<void> => {
    stopped ??= (async () => {
      log.info('shutting down', { signal: why, clients: bridge.clients.size, sessions: sessions.size });
      notifyStopping();
      for (const front of fronts) front.close();
      admission.stop();
      sessions.shutdown(WsCloseCode.shutdown, 'Shutting down');
      bridge.clients.closeAll(WsCloseCode.shutdown, 'Shutting down');
      tunnels.shutdown();
      await Promise.all([routes, ...extraRoutes].map((one) => one.close()));
      try {
        await setup.backend.cleanup?.();
      } catch (error) {
        log.error('backend cleanup failed', { backend: setup.backend.name, error: errorMessage(error) });
      }
    })();
    return stopped;
  };
  const reloadAuth = (): void => {
    if (setup.authSections.size === 0) return;
    try {
      configuration.reloadAuth();
      log.info('auth files reloaded', { sections: setup.authSections.size });
    } catch (error) {
      log.error('auth files not reloaded, keeping the previous ones', { error: errorMessage(error) });
    }
  };
  const reloadTls = async (): Promise<void> => {
    if (configuration.tls === null || stopped !== null) return;
    try {
      const next = loadListenerTls(configuration.tls.config);
      logCertificates('tls reloaded', next, await main.reloadTls(next));
    } catch (error) {
      log.error('tls reload refused: keeping the certificates in use', { why: errorMessage(error) });
    }
  };
  const reload = async (): Promise<void> => {
    if (stopped !== null) return;
    notifyReloading();
    tunnels.reload();
    reloadAuth();
    await reloadTls();
    if (stopped === null) notifyReady(`${listening}, reloaded`);
  };
  return { port, listening, stop, reload };
}

function logCertificates(message: string, tls: ListenerTls, how?: string): void {
  const { default: main, names } = tls;
  log.info(message, { how, subject: main.subject, fingerprint: main.fingerprint, expires: main.validTo.toISOString(), names: [...names.keys()].join(',') || undefined });
  for (const [name, certificate] of names) log.info(message, { name, subject: certificate.subject, fingerprint: certificate.fingerprint, expires: certificate.validTo.toISOString() });
}

async function runForward(argv: readonly string[]): Promise<void> {
  let command;
  try {
    command = parseForwardCommand(argv);
  } catch (error) {
    throw new ExitError(errorMessage(error), 2);
  }
  if (command.help) {
    process.stdout.write(FORWARD_USAGE + '\n');
    return;
  }
  setVerbose(command.verbose);
  setLogFormat(command.logFormat);
  const { upstream } = command;
  const client = new TunnelClient(upstream, { stopOnRefusal: true, onRefused: () => process.exit(1) });
  try {
    await client.start();
  } catch (error) {
    throw new ExitError(errorMessage(error), 1);
  }
  log.info('forwarding', { url: upstream.url, identity: upstream.name, ports: client.localPorts.join(',') });
  const stop = (signal: string): void => {
    log.info('shutting down', { signal });
    client.close();
    setTimeout(() => process.exit(0), 200).unref();
  };
  process.on('SIGINT', () => stop('SIGINT'));
  process.on('SIGTERM', () => stop('SIGTERM'));
}

async function runStatusCommand(argv: readonly string[]): Promise<void> {
  let command;
  try {
    command = parseStatusCommand(argv);
  } catch (error) {
    throw new ExitError(errorMessage(error), 2);
  }
  if (command.help) {
    process.stdout.write(STATUS_USAGE + '\n');
    return;
  }
  try {
    await runStatus(command);
  } catch (error) {
    throw new ExitError(errorMessage(error), 1);
  }
}

/** The `websocksy` command: errors go to stderr with the exit code they call for. */
export async function main(argv: readonly string[]): Promise<void> {
  try {
    if (argv[0] === 'forward') {
      await runForward(argv.slice(1));
      return;
    }
    if (argv[0] === 'status') {
      await runStatusCommand(argv.slice(1));
      return;
    }
    const server = await startServer(argv);
    if (server === null) return;
    let stopping = false;
    const onSignal = (signal: string): void => {
      if (stopping) {
        log.warn('second signal: exiting now', { signal });
        process.exit(1);
      }
      stopping = true;
      // Connections still finishing keep the process up; this bounds how long they may take.
      setTimeout(() => process.exit(0), SHUTDOWN_GRACE_MS).unref();
      void server.stop(signal);
    };
    process.on('SIGINT', () => onSignal('SIGINT'));
    process.on('SIGTERM', () => onSignal('SIGTERM'));
    process.on('SIGHUP', () => void server.reload());
    // Only now: a reload systemd sends as soon as it hears READY=1 must find the handler.
    notifyReady(server.listening);
  } catch (error) {
    const code = error instanceof ExitError ? error.exitCode : 70;
    flushLog();
    const message = error instanceof ExitError ? error.message : `unexpected failure: ${errorMessage(error)}`;
    // Several errors (a config's ConfigErrors) are one line each, each with the prefix.
    process.stderr.write(`${message.split('\n').map((line) => `websocksy: ${line}`).join('\n')}\n`);
    process.exit(code);
  }
}
