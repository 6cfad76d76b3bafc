/*
 * websocksy's entry point: read the configuration, load the backend, listen, and shut down
 * cleanly on SIGINT/SIGTERM (every client gets 1001, peers are closed, the backend cleans up).
 * SIGHUP re-reads the tunnel identities. `websocksy forward ...` is the port-forwarding client.
 */
import { createRequire } from 'node:module';
import type { BackendHost } from './api.js';
import { ConfigError, parseCommandLine, parseConfigFile, usage, type Setting } from './config.js';
import { detectEngine } from './engine.js';
import { Listener } from './listener.js';
import { errorMessage } from './errors.js';
import { log, setVerbose } from './log.js';
import { PluginLoader } from './plugin.js';
import { PluginError } from './plugin-error.js';
import { pluginFolderOf } from './plugin-folder.js';
import { applySettings } from './setup.js';
import { createFramingRegistry } from '../framing/index.js';
import { buildRoutes } from '../http/route-config.js';
import { RouteServer } from '../http/route-server.js';
import type { Route } from '../http/route-table.js';
import { HttpRoutes } from '../http/routes.js';
import { readWestConfig, type WestConfig } from '../http/west-config.js';
import { tunnelStatus } from '../tunnel/status.js';
import { runForward } from '../tunnel/forward-cli.js';
import { Tunnels } from '../tunnel/runtime.js';

/** How long clients get to finish the close handshake before the process exits anyway. */
const SHUTDOWN_GRACE_MS = 3000;

function packageVersion(): string {
  const require = createRequire(import.meta.url);
  return (require('../../../package.json') as { version: string }).version;
}

function fail(message: string, exitCode: number): never {
  process.stderr.write(`websocksy: ${message}\n`);
  process.exit(exitCode);
}

async function main(argv: readonly string[]): Promise<void> {
  if (argv[0] === 'forward') {
    await runForward(argv.slice(1), fail);
    return;
  }
  let cli;
  try {
    cli = parseCommandLine(argv);
  } catch (error) {
    fail(errorMessage(error), 2);
  }
  if (cli.help) {
    process.stdout.write(usage() + '\n');
    return;
  }
  if (cli.version) {
    process.stdout.write(`websocksy ${packageVersion()}\n`);
    return;
  }

  const framings = createFramingRegistry();
  const host: BackendHost = { framing: (name) => framings.get(name), warn: (message) => log.warn(message) };
  let setup;
  // A .json argument is a west configuration (src/http/west-config.ts), mapped onto the same settings.
  let west: WestConfig | null = null;
  let extraRoutes: Array<{ listen: string; port: number; routes: Route[] }> = [];
  try {
    if (cli.configFile?.endsWith('.json') === true) west = readWestConfig(cli.configFile);
    const fromFile: Setting[] = west !== null ? west.settings : cli.configFile === undefined ? [] : parseConfigFile(cli.configFile);
    const settings = [...fromFile, ...cli.settings];
    // Framing plugins register before any setting applies: backend options name them.
    const plugins = new PluginLoader(pluginFolderOf(settings), framings, host);
    await plugins.loadFramingPlugins();
    setup = await applySettings(settings, (name) => plugins.loadBackend(name));
    const tunnelConfig = setup.tunnels;
    extraRoutes = (west?.extraListeners ?? []).map((extra) => ({ ...extra, routes: buildRoutes(extra.settings, tunnelConfig) }));
  } catch (error) {
    fail(errorMessage(error), error instanceof ConfigError || error instanceof PluginError ? 1 : 70);
  }
  setVerbose(setup.core.verbose);

  const engine = detectEngine();
  if (engine.native) log.info('engine', { engine: engine.description });
  else log.warn('engine', { engine: engine.description });

  let tunnels: Tunnels;
  try {
    tunnels = new Tunnels(setup.tunnels);
  } catch (error) {
    fail(errorMessage(error), 1);
  }
  const httpRoutes = new HttpRoutes(setup.routes, tunnels);
  const listener = new Listener({
    core: setup.core,
    backend: setup.backend,
    framing: (name) => framings.get(name),
    routes: [...tunnels.routes, ...httpRoutes.registrations],
    fallback: (res, req) => httpRoutes.fallback(res, req),
  });
  const extraServers: RouteServer[] = [];
  let port: number;
  try {
    port = await listener.listen();
    for (const extra of extraRoutes) {
      const server = new RouteServer({ routes: new HttpRoutes(extra.routes, tunnels) });
      extraServers.push(server);
      log.info('listening for routes', { address: extra.listen, port: await server.listen(extra.listen, extra.port) });
    }
    if (west?.control != null) {
      const server = new RouteServer({ status: () => tunnelStatus(tunnels.server, tunnels.clients) });
      extraServers.push(server);
      log.info('listening for status', { address: west.control.listen, port: await server.listen(west.control.listen, west.control.port) });
    }
    await tunnels.start();
  } catch (error) {
    fail(errorMessage(error), 1);
  }
  log.info('listening', { address: setup.core.listen, port, backend: setup.backend.name, version: packageVersion() });

  let stopping = false;
  const stop = (signal: string): void => {
    if (stopping) {
      log.warn('second signal: exiting now', { signal });
      process.exit(1);
    }
    stopping = true;
    log.info('shutting down', { signal, clients: listener.openBridges });
    listener.shutdown();
    tunnels.shutdown();
    httpRoutes.close();
    for (const server of extraServers) server.close();
    setTimeout(() => process.exit(0), SHUTDOWN_GRACE_MS).unref();
    Promise.resolve(setup.backend.cleanup?.()).catch((error: unknown) =>
      log.error('backend cleanup failed', { error: errorMessage(error) }),
    );
  };
  process.on('SIGINT', () => stop('SIGINT'));
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGHUP', () => tunnels.reload());
}

main(process.argv.slice(2)).catch((error: unknown) => fail(`unexpected failure: ${errorMessage(error)}`, 70));
