/*
 * Everything a start needs from the configuration, read in the order that makes errors precise:
 * the file (ini, or a west .json mapped onto the same settings), then the flags; the plugin
 * folder first of all (framing plugins register before any backend option names them); then
 * every setting in order; last, the route modules the routes name. Errors are ConfigError or
 * PluginError and name their file and line, or the plugin's file.
 */
import type { BackendHost } from '../core/api.js';
import type { RouteModule } from '../core/route-api.js';
import type { FramingRegistry } from '../framing/registry.js';
import type { Route } from '../http/route-table.js';
import { PluginLoader } from '../loader/plugin-loader.js';
import { loadRouteModule } from '../loader/route-module.js';
import { applySettings, sameBackendSettings, type Setup } from './apply.js';
import type { CommandLine } from './command-line.js';
import { parseConfigFile } from './ini-file.js';
import { logFormatOf } from './log-format.js';
import { pluginFolderOf } from './plugin-folder.js';
import { setLogFormat } from '../lib/log.js';
import { buildRoutes } from './routes.js';
import { ConfigError, ConfigErrorList, type Setting } from './settings.js';
import { buildTlsConfig, loadListenerTls, type TlsConfig } from './tls.js';
import type { ListenerTls } from '../front/tls-app.js';
import { readWestConfig, type Address } from './west.js';

export interface Configuration {
  readonly setup: Setup;
  /** west: proxy listeners on other addresses than the main one. */
  readonly extraListeners: ReadonlyArray<Address & { readonly routes: Route[] }>;
  /** The loaded module of each module route of the main listener. */
  readonly routeModules: ReadonlyMap<Route, RouteModule>;
  /** Whether the bridge serves the main listener's other paths (bridgeWanted). */
  readonly bridge: boolean;
  /** The main listener's certificates as configured and as read; null: plain. */
  readonly tls: { readonly config: TlsConfig; readonly loaded: ListenerTls } | null;
  /** Every setting in order, the file's then the command line's: a reload compares them with the running ones. */
  readonly settings: readonly Setting[];
  /** 0 at start, then one more at each reload: route modules load fresh instances per generation. */
  readonly generation: number;
}

/** Sections that serve something of their own: a config made of them asks for no bridge. */
const NON_BRIDGE_SCOPES: ReadonlySet<Setting['scope']> = new Set(['tunnel', 'upstream', 'route', 'status']);

/**
 * The bridge runs when it was asked for: with no config file at all (websocksy's command
 * line), when a backend or a backend option is given, or when the config file is a plain
 * websocksy config (no tunnel, upstream, route or status section). A config of routes and
 * tunnels does not also open the default bridge to tcp://127.0.0.1:5900 on every other path.
 */
export function bridgeWanted(hasConfigFile: boolean, settings: readonly Setting[]): boolean {
  if (!hasConfigFile) return true;
  if (settings.some((setting) => setting.scope === 'backend' || (setting.scope === 'core' && setting.key === 'backend'))) return true;
  return !settings.some((setting) => NON_BRIDGE_SCOPES.has(setting.scope));
}

async function loadRouteModules(routes: readonly Route[], generation: number): Promise<Map<Route, RouteModule>> {
  const modules = new Map<Route, RouteModule>();
  for (const route of routes) {
    if (route.target.kind === 'module') modules.set(route, await loadRouteModule(route.target.file, route.prefix, generation));
  }
  return modules;
}

/**
 * Reads, checks and loads the whole configuration; a ConfigError (or ConfigErrors: every error
 * found) names what is wrong. `running`: a reload's, the configuration that serves now. Framing
 * plugins were loaded at start and stay; the backend stays when its settings did not change.
 */
export async function loadConfiguration(cli: CommandLine, framings: FramingRegistry, host: BackendHost, running: Configuration | null = null): Promise<Configuration> {
  const errors = new ConfigErrorList();
  const west = cli.configFile?.endsWith('.json') === true ? readWestConfig(cli.configFile) : null;
  const fromFile: Setting[] = west !== null ? west.settings : cli.configFile === undefined ? [] : parseConfigFile(cli.configFile, errors);
  const settings = [...fromFile, ...cli.settings];
  // A reload keeps the log format (reload-scope.ts): lines already written must not change shape.
  if (running === null) setLogFormat(logFormatOf(settings));
  const plugins = new PluginLoader(pluginFolderOf(settings), framings, host);
  if (running === null) await plugins.loadFramingPlugins();
  const keptBackend = running !== null && sameBackendSettings(running.settings, settings) ? running.setup.backend : null;
  let setup: Setup | null = null;
  try {
    setup = await applySettings(settings, (name) => plugins.loadBackend(name, running !== null), keptBackend);
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    errors.add(error);
  }
  const tlsConfig = errors.attempt(() => buildTlsConfig(settings), null);
  const tls = tlsConfig === null ? null : errors.attempt(() => ({ config: tlsConfig, loaded: loadListenerTls(tlsConfig) }), null);
  const bridge = bridgeWanted(cli.configFile !== undefined, settings);
  if (setup === null) {
    // applySettings failed, so the list holds its errors: this throws them with the TLS ones.
    errors.throwIfAny();
    throw new ConfigError('the configuration could not be read');
  }
  const ready = setup;
  const extraListeners = (west?.extraListeners ?? []).map((extra) => ({
    listen: extra.listen,
    port: extra.port,
    routes: errors.attempt(() => buildRoutes(extra.settings, ready.tunnels, ready.authSections), []),
  }));
  if (!bridge && ready.core.auth !== null) {
    errors.add(
      new ConfigError('auth guards the bridge, and this config runs none (it names no backend): give the bridge a backend ([backend] or backend =), or put auth on the routes', ready.core.auth.origin),
    );
  }
  errors.throwIfAny();
  const generation = running === null ? 0 : running.generation + 1;
  return { setup: ready, extraListeners, routeModules: await loadRouteModules(ready.routes, generation), bridge, tls, settings, generation };
}
