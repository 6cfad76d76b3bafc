/*
 * Applies the ordered settings: core options fill the CoreConfig, `backend` swaps the backend
 * (cleaning up the old one, as websocksy does), and backend options go to the backend loaded at
 * that moment, with the folder their relative paths start from. Every failure is a ConfigError
 * naming the file and line or the flag.
 */
import type { AuthPolicy } from '../auth/policy.js';
import type { Backend } from '../core/api.js';
import { underPrefix, type Route } from '../http/route-table.js';
import { errorMessage } from '../lib/errors.js';
import type { TunnelConfig } from '../tunnel/options.js';
import { authPolicyOf, buildAuthSections, type AuthSections } from './auth-sections.js';
import { checkPeerBuffer, defaultCoreConfig, findCoreOption, type CoreConfig } from './core-options.js';
import { buildRoutes } from './routes.js';
import { baseDirOf, ConfigError, type Setting, type SettingOrigin } from './settings.js';
import { buildStatusConfig, type StatusConfig } from './status.js';
import { buildTunnelConfig } from './tunnels.js';

export type BackendLoader = (name: string) => Backend | Promise<Backend>;

export interface Setup {
  readonly core: CoreConfig;
  readonly backend: Backend;
  readonly tunnels: TunnelConfig;
  readonly routes: Route[];
  /** `[core] auth`: who may use the bridge; null when anyone may. */
  readonly bridgeAuth: AuthPolicy | null;
  /** Every `[auth NAME]` section, for routes built elsewhere (west's extra listeners). */
  readonly authSections: AuthSections;
  readonly status: StatusConfig | null;
}

const DEFAULT_BACKEND = 'defaultpeer';

async function load(loader: BackendLoader, name: string, origin?: SettingOrigin): Promise<Backend> {
  try {
    return await loader(name);
  } catch (error) {
    throw new ConfigError(`backend "${name}": ${errorMessage(error)}`, origin);
  }
}

/** The session path is the sessions' alone: a route or tunnel there would take its requests, or clash in uWS. */
function checkSessionPath(path: string, routes: readonly Route[], tunnels: TunnelConfig, status: StatusConfig | null, settings: readonly Setting[]): void {
  const origin = settings.filter((setting) => setting.scope === 'core' && setting.key === 'session-path').at(-1)?.origin;
  const route = routes.find((candidate) => candidate.prefix !== '/' && underPrefix(candidate.prefix, path));
  if (route !== undefined) throw new ConfigError(`session-path ${path} lies in [route ${route.prefix}]: choose another session-path, or another prefix`, origin);
  for (const taken of [tunnels.server?.path, status?.listener === null ? status.path : undefined]) {
    if (taken === path) throw new ConfigError(`session-path ${path} is the tunnel or status path: choose another`, origin);
  }
}

export async function applySettings(settings: readonly Setting[], loader: BackendLoader): Promise<Setup> {
  const core: CoreConfig = { ...defaultCoreConfig };
  let backend = await load(loader, DEFAULT_BACKEND);
  /** Where the current backend was chosen or first configured: ready()'s errors point there. */
  let backendOrigin: SettingOrigin | undefined;
  const tunnels = buildTunnelConfig(settings);
  const status = buildStatusConfig(settings);
  const authSections = buildAuthSections(settings);
  const routes = buildRoutes(settings, tunnels, authSections, status !== null && status.listener === null ? [status.path] : []);
  for (const setting of settings) {
    const { key, value, origin } = setting;
    if (setting.scope === 'backend') {
      if (backend.configure === undefined) {
        throw new ConfigError(`backend "${backend.name}" takes no options (key "${key}")`, origin);
      }
      backendOrigin ??= origin;
      try {
        backend.configure(key, value, { baseDir: baseDirOf(origin) });
      } catch (error) {
        throw new ConfigError(`backend "${backend.name}" rejected ${key} = ${value}: ${errorMessage(error)}`, origin);
      }
    } else if (setting.scope !== 'core') {
      continue;
    } else if (key === 'backend') {
      try {
        await backend.cleanup?.();
      } catch (error) {
        throw new ConfigError(`backend "${backend.name}" failed to clean up: ${errorMessage(error)}`, origin);
      }
      backend = await load(loader, value.trim(), origin);
      backendOrigin = origin;
    } else {
      const option = findCoreOption(key);
      if (option === undefined) throw new ConfigError(`unknown core option "${key}"`, origin);
      try {
        option.apply(core, value, origin);
      } catch (error) {
        throw new ConfigError(`${key}: ${errorMessage(error)}`, origin);
      }
    }
  }
  try {
    checkPeerBuffer(core);
  } catch (error) {
    const origin = settings.filter((setting) => setting.scope === 'core' && setting.key === 'peer-buffer').at(-1)?.origin;
    throw new ConfigError(`peer-buffer: ${errorMessage(error)}`, origin);
  }
  checkSessionPath(core.sessionPath, routes, tunnels, status, settings);
  try {
    backend.ready?.();
  } catch (error) {
    throw new ConfigError(`backend "${backend.name}": ${errorMessage(error)}`, backendOrigin);
  }
  const bridgeAuth = core.auth === null ? null : authPolicyOf(core.auth.names, core.auth.origin, authSections);
  return { core, backend, tunnels, routes, status, bridgeAuth, authSections };
}

/**
 * The `[auth NAME]` sections no `auth` key names: worth a warning, as a section on its own
 * guards nothing, and a forgotten `auth = NAME` leaves the bridge or route open.
 */
export function unusedAuthSections(setup: Setup): string[] {
  const used = new Set([setup.bridgeAuth, ...setup.routes.map((route) => route.auth)].flatMap((policy) => policy?.sections ?? []));
  return [...setup.authSections].filter(([, section]) => !used.has(section)).map(([name]) => name);
}
