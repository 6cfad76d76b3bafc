/*
 * `websocksy [options] [CONFIG]`, the server: read the command line and the configuration, build
 * the pieces (backend and framing plugins, the bridge, tunnels, routes, the front that serves
 * them all), listen (server.ts), and shut down cleanly: SIGTERM drains first (front/drain.ts),
 * SIGINT does not; then every client gets 1001, what was accepted is delivered to the peers, the
 * backend cleans up. A second signal cuts a drain short, a third (or a second without a drain)
 * exits. SIGHUP reloads the whole configuration (server.ts). Signals that come while the server
 * starts wait for it to be up (held-signals.ts). With `[core] workers` above 1, this process is
 * the cluster's primary (cluster-primary.ts), loaded only then.
 */
import { createRequire } from 'node:module';
import type { BackendHost } from '../core/api.js';
import { PEER_LINGER_MS } from '../core/bridge.js';
import { PluginError } from '../core/plugin-error.js';
import { parseCommandLine, usage, type CommandLine } from '../config/command-line.js';
import { loadConfiguration, type Configuration } from '../config/load.js';
import { ConfigError } from '../config/settings.js';
import { warnOfMistakes } from '../config/mistakes.js';
import { createFramingRegistry } from '../framing/index.js';
import type { FramingRegistry } from '../framing/registry.js';
import { EngineError, glibcVersion, JS_ENGINE_COST, selectEngine, type Engine } from '../front/engine.js';
import { checkPortFree, freePort } from '../front/listen.js';
import { errorMessage } from '../lib/errors.js';
import { ExitError } from '../lib/exit-error.js';
import { flushLog, log, setLogWorker } from '../lib/log.js';
import { notifyReady } from '../lib/systemd-notify.js';
import type { ClusterPrimary } from './cluster-primary.js';
import { WorkerLink, workerIndex } from './cluster-worker.js';
import { HeldSignals, type ServerSignal } from './held-signals.js';
import { startServer as startRunning, StartError, type RunningServer } from './server.js';

export type { RunningServer };

/** How long closing connections get to deliver what they accepted before the process exits anyway. */
const SHUTDOWN_GRACE_MS = PEER_LINGER_MS + 1000;

function packageVersion(): string {
  const require = createRequire(import.meta.url);
  return (require('../../../package.json') as { version: string }).version;
}

/**
 * Loads the WebSocket engine and says which one runs: a server that would silently serve on the
 * JS fallback is refused (exit 69, EX_UNAVAILABLE) unless the user asked for it.
 */
async function startEngine(allowJs: boolean): Promise<void> {
  let engine: Engine;
  try {
    engine = await selectEngine(allowJs);
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
async function engineSummary(): Promise<string> {
  const platform = `Node ${process.version}, glibc ${glibcVersion()}`;
  try {
    const engine = await selectEngine(false);
    // Only WEBSOCKSY_ENGINE=js gets the JS engine here; skipped says so.
    if (!engine.native) return `engine: websocksy's JS engine (${engine.source}; ${platform}; ${engine.skipped.join('; ')})`;
    return `engine: uWS ${engine.version} native (${engine.build} from ${engine.source}; ${platform})`;
  } catch (error) {
    if (error instanceof EngineError) return `engine: none native on ${platform} (only websocksy's JS engine, with --allow-js-engine; docs/engine.md)`;
    throw error;
  }
}

interface Configured {
  readonly configuration: Configuration;
  readonly cli: CommandLine;
  readonly framings: FramingRegistry;
  readonly host: BackendHost;
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
    process.stdout.write(`websocksy ${packageVersion()}\n${await engineSummary()}\n`);
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
    warnOfMistakes(configuration);
    await configuration.setup.backend.cleanup?.();
    process.stdout.write(`${cli.configFile ?? 'the command line'}: the configuration is valid\n`);
    return null;
  }
  return { configuration, cli, framings, host };
}

/** Starts a server for `argv` (the command line without `websocksy`); null when it only printed help or the version, or checked the configuration. */
export async function startServer(argv: readonly string[]): Promise<RunningServer | null> {
  const configured = await configure(argv);
  return configured === null ? null : serve(configured, null);
}

/** Serves a loaded configuration: alone, or as a cluster's worker (`role`). */
async function serve(configured: Configured, role: WorkerLink | null): Promise<RunningServer> {
  const { configuration, cli, framings, host } = configured;
  await startEngine(configuration.setup.core.allowJsEngine);
  try {
    return await startRunning(configuration, cli, framings, host, packageVersion(), role);
  } catch (error) {
    if (error instanceof StartError) throw new ExitError(error.message, 1);
    throw error;
  }
}

/**
 * `[core] workers` above 1, in the process the user started: it checks the listeners' ports
 * free, starts and keeps the workers (server/cluster-primary.ts), passes them the signals, and
 * serves nothing itself.
 */
async function runCluster(configured: Configured, argv: readonly string[], signals: HeldSignals): Promise<void> {
  const { configuration } = configured;
  // The workers load the backend for themselves.
  await configuration.setup.backend.cleanup?.();
  const { core, status } = configuration.setup;
  const statusListener = status?.listener ?? null;
  // A named port is checked free; for a port 0 the primary picks one the system has free, since
  // every worker must bind the same one.
  const portOf = async ({ listen, port }: { listen: string; port: number }): Promise<number> => {
    if (port === 0) return freePort(listen);
    await checkPortFree(listen, port);
    return port;
  };
  const primaryModule = await import('./cluster-primary.js');
  let primary: ClusterPrimary;
  try {
    const extra: number[] = [];
    for (const listener of configuration.extraListeners) extra.push(await portOf(listener));
    const ports = { main: await portOf(core), extra, status: statusListener === null ? null : await portOf(statusListener) };
    primary = new primaryModule.ClusterPrimary(core.workers, ports, process.argv[1] ?? 'bin/websocksy', argv);
    await primary.start();
  } catch (error) {
    throw new ExitError(errorMessage(error), 1);
  }
  let stopping = false;
  signals.handTo((signal: ServerSignal): void => {
    primary.signal(signal);
    if (signal === 'SIGHUP' || stopping) return;
    stopping = true;
    void primary.whenExited().then(() => {
      log.info('cluster stopped', { signal });
      flushLog();
      process.exit(0);
    });
  });
}

/** Runs the server (or a cluster of them) until a signal stops it; ExitError when it cannot start. */
export async function runServerCommand(argv: readonly string[]): Promise<void> {
  const index = workerIndex();
  if (index !== null) setLogWorker(index);
  const configured = await configure(argv);
  if (configured === null) return;
  const signals = new HeldSignals();
  if (index === null && configured.configuration.setup.core.workers > 1) {
    await runCluster(configured, argv, signals);
    return;
  }
  const link = index === null ? null : new WorkerLink(index);
  const server = await serve(configured, link);
  let stopping = false;
  // `drain`: SIGTERM's drain first (and the status page's drain, which asks for the same); SIGINT stops at once.
  const onStop = (why: string, drain: boolean): void => {
    // Connections still finishing keep the process up; this bounds how long they may take.
    const exitAfter = (ms: number): unknown => setTimeout(() => process.exit(0), ms + SHUTDOWN_GRACE_MS).unref();
    if (stopping && server.endDrain()) {
      log.warn('second signal: closing what is left now', { signal: why });
      exitAfter(0);
      return;
    }
    if (stopping) {
      log.warn('second signal: exiting now', { signal: why });
      process.exit(1);
    }
    stopping = true;
    const drainMs = drain ? server.drainTimeoutMs : 0;
    exitAfter(drainMs);
    // Once stopped, what may still hold the process is sockets finishing (they get the grace)
    // and idle keep-alive HTTP connections (a balancer's), which must not hold it until the deadline.
    void server.stop(why, drainMs).then(() => {
      exitAfter(0);
      // Once the loop is empty, leave through process.exit: Node's natural exit would then close
      // the engine's native handles in its environment cleanup, where a worker was once seen
      // spinning forever (docs/engine.md, "Leaving").
      process.once('beforeExit', () => {
        flushLog();
        process.exit();
      });
    });
  };
  server.onDrainRequest(() => onStop('status page', true));
  signals.handTo((signal) => (signal === 'SIGHUP' ? void server.reload() : onStop(signal, signal === 'SIGTERM')));
  if (link !== null) {
    link.listening(server.linkPort ?? 0);
    // A worker whose primary is gone stops as SIGTERM would stop it: nothing would keep it otherwise.
    link.onPrimaryGone(() => onStop('primary gone', true));
  }
  // Only now: a reload systemd sends as soon as it hears READY=1 must find the handler.
  notifyReady(server.listening);
}
