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
import { applySettings, type Setup } from './apply.js';
import { reloadAuthSections } from './auth-sections.js';
import type { CommandLine } from './command-line.js';
import { parseConfigFile } from './ini-file.js';
import { pluginFolderOf } from './plugin-folder.js';
import { buildRoutes } from './routes.js';
import type { Setting } from './settings.js';
import { readWestConfig, type Address } from './west.js';

export interface Configuration {
  readonly setup: Setup;
  /** west: proxy listeners on other addresses than the main one. */
  readonly extraListeners: ReadonlyArray<Address & { readonly routes: Route[] }>;
  /** west: a listener of its own for the status (`cp`). */
  readonly control: Address | null;
  /** The loaded module of each module route of the main listener. */
  readonly routeModules: ReadonlyMap<Route, RouteModule>;
  /** SIGHUP: reads the files of the [auth] sections again (tokens, users, keys); throws a ConfigError and keeps the old ones on a bad file. */
  readonly reloadAuth: () => void;
}

async function loadRouteModules(routes: readonly Route[]): Promise<Map<Route, RouteModule>> {
  const modules = new Map<Route, RouteModule>();
  for (const route of routes) {
    if (route.target.kind === 'module') modules.set(route, await loadRouteModule(route.target.file, route.prefix));
  }
  return modules;
}

export async function loadConfiguration(cli: CommandLine, framings: FramingRegistry, host: BackendHost): Promise<Configuration> {
  const west = cli.configFile?.endsWith('.json') === true ? readWestConfig(cli.configFile) : null;
  const fromFile: Setting[] = west !== null ? west.settings : cli.configFile === undefined ? [] : parseConfigFile(cli.configFile);
  const settings = [...fromFile, ...cli.settings];
  const plugins = new PluginLoader(pluginFolderOf(settings), framings, host);
  await plugins.loadFramingPlugins();
  const setup = await applySettings(settings, (name) => plugins.loadBackend(name));
  const extraListeners = (west?.extraListeners ?? []).map((extra) => ({ listen: extra.listen, port: extra.port, routes: buildRoutes(extra.settings, setup.tunnels, setup.authSections) }));
  const reloadAuth = (): void => reloadAuthSections(setup.authSections, settings);
  return { setup, extraListeners, control: west?.control ?? null, routeModules: await loadRouteModules(setup.routes), reloadAuth };
}
