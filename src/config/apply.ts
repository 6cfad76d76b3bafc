/*
 * Applies the ordered settings: core options fill the CoreConfig, `backend` swaps the backend
 * (cleaning up the old one, as websocksy does), and backend options go to the backend loaded at
 * that moment, with the folder their relative paths start from. Every failure is a ConfigError
 * naming the file and line or the flag.
 */
import { loadJose } from '../auth/jwt.js';
import type { AuthPolicy } from '../auth/policy.js';
import type { Backend } from '../core/api.js';
import { underPrefix, type Route } from '../http/route-table.js';
import { errorMessage } from '../lib/errors.js';
import type { TunnelConfig } from '../tunnel/options.js';
import { authPolicyOf, buildAuthSections, usesJwt, type AuthSections } from './auth-sections.js';
import { checkPeerBuffer, defaultCoreConfig, findCoreOption, type CoreConfig } from './core-options.js';
import { buildRoutes } from './routes.js';
import { baseDirOf, ConfigError, ConfigErrorList, lastCoreSetting, type Setting, type SettingOrigin } from './settings.js';
import { buildStatusConfig, type StatusConfig } from './status.js';
import { buildClusterConfig, type ClusterConfig } from './cluster.js';
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
  /** `[cluster]`: instances on several hosts serving as one; null without it. */
  readonly cluster: ClusterConfig | null;
}

const DEFAULT_BACKEND = 'defaultpeer';

/** The `[core]` keys that choose the backend (`plugins`: the folder a backend plugin is loaded from). */
export const BACKEND_CORE_KEYS = ['backend', 'plugins'] as const;

/** The settings that choose and configure the backend; a reload that leaves them alone keeps the running one. */
export function isBackendSetting(setting: Setting): boolean {
  return setting.scope === 'backend' || (setting.scope === 'core' && (BACKEND_CORE_KEYS as readonly string[]).includes(setting.key));
}

/** Whether two configurations' backend settings say the same (the folder relative paths start from included). */
export function sameBackendSettings(a: readonly Setting[], b: readonly Setting[]): boolean {
  const text = (settings: readonly Setting[]): string[] => settings.filter(isBackendSetting).map((setting) => `${setting.key}=${setting.value}@${baseDirOf(setting.origin)}`);
  const [left, right] = [text(a), text(b)];
  return left.length === right.length && left.every((line, index) => line === right[index]);
}

async function load(loader: BackendLoader, name: string, origin?: SettingOrigin): Promise<Backend> {
  try {
    return await loader(name);
  } catch (error) {
    throw new ConfigError(`backend "${name}": ${errorMessage(error)}`, origin);
  }
}

/** The session path is the sessions' alone: a route or tunnel there would take its requests, or clash in uWS. */
function checkSessionPath(path: string, routes: readonly Route[], tunnels: TunnelConfig, status: StatusConfig | null, settings: readonly Setting[]): void {
  const origin = lastCoreSetting(settings, 'session-path')?.origin;
  const route = routes.find((candidate) => candidate.prefix !== '/' && underPrefix(candidate.prefix, path));
  if (route !== undefined) throw new ConfigError(`session-path ${path} lies in [route ${route.prefix}]: choose another session-path, or another prefix`, origin);
  for (const taken of [tunnels.server?.path, status?.listener === null ? status.path : undefined]) {
    if (taken === path) throw new ConfigError(`session-path ${path} is the tunnel or status path: choose another`, origin);
  }
}

/**
 * Every setting is checked even after one failed: the sections' builders each fall back to
 * "nothing configured" and the core and backend options go on, so that one start (or --check)
 * names every error at once. A backend that failed to load takes no options until the next one.
 * `running`: a reload found the backend's settings unchanged, and keeps the backend that runs.
 */
export async function applySettings(settings: readonly Setting[], loader: BackendLoader, running: Backend | null = null): Promise<Setup> {
  const errors = new ConfigErrorList();
  const core: CoreConfig = { ...defaultCoreConfig };
  let backend: Backend | null = running ?? (await load(loader, DEFAULT_BACKEND));
  /** Where the current backend was chosen or first configured: ready()'s errors point there. */
  let backendOrigin: SettingOrigin | undefined;
  /** An option of the current backend was refused: its ready() would only repeat that. */
  let backendRefused = false;
  const tunnels = errors.attempt(() => buildTunnelConfig(settings), buildTunnelConfig([]));
  const status = errors.attempt(() => buildStatusConfig(settings), null);
  const cluster = errors.attempt(() => buildClusterConfig(settings), null);
  const jose = usesJwt(settings) ? await loadJose() : null;
  const authSections = errors.attempt(() => buildAuthSections(settings, jose), buildAuthSections([], null));
  const routes = errors.attempt(() => buildRoutes(settings, tunnels, authSections, status !== null && status.listener === null ? [status.path] : []), []);
  for (const setting of settings) {
    const { key, value, origin } = setting;
    if (running !== null && isBackendSetting(setting)) continue;
    if (setting.scope === 'backend') {
      if (backend === null) continue;
      const configured = backend;
      if (configured.configure === undefined) {
        errors.add(new ConfigError(`backend "${configured.name}" takes no options (key "${key}")`, origin));
        continue;
      }
      backendOrigin ??= origin;
      try {
        configured.configure(key, value, { baseDir: baseDirOf(origin) });
      } catch (error) {
        errors.add(new ConfigError(`backend "${configured.name}" rejected ${key} = ${value}: ${errorMessage(error)}`, origin));
        backendRefused = true;
      }
    } else if (setting.scope !== 'core') {
      continue;
    } else if (key === 'backend') {
      try {
        await backend?.cleanup?.();
      } catch (error) {
        errors.add(new ConfigError(`backend "${backend?.name ?? ''}" failed to clean up: ${errorMessage(error)}`, origin));
      }
      try {
        backend = await load(loader, value.trim(), origin);
      } catch (error) {
        if (!(error instanceof ConfigError)) throw error;
        errors.add(error);
        backend = null;
      }
      backendOrigin = origin;
      backendRefused = false;
    } else {
      const option = findCoreOption(key);
      if (option === undefined) {
        errors.add(new ConfigError(`unknown core option "${key}"`, origin));
        continue;
      }
      try {
        option.apply(core, value, origin);
      } catch (error) {
        errors.add(new ConfigError(`${key}: ${errorMessage(error)}`, origin));
      }
    }
  }
  try {
    checkPeerBuffer(core);
  } catch (error) {
    const origin = lastCoreSetting(settings, 'peer-buffer')?.origin;
    errors.add(new ConfigError(`peer-buffer: ${errorMessage(error)}`, origin));
  }
  errors.attempt(() => checkSessionPath(core.sessionPath, routes, tunnels, status, settings), undefined);
  if (backend !== null && backend !== running && !backendRefused) {
    try {
      backend.ready?.();
    } catch (error) {
      errors.add(new ConfigError(`backend "${backend.name}": ${errorMessage(error)}`, backendOrigin));
    }
  }
  const auth = core.auth;
  const bridgeAuth = auth === null ? null : errors.attempt(() => authPolicyOf(auth.names, auth.origin, authSections), null);
  errors.throwIfAny();
  // backend is null only after a failed load, which throwIfAny has just thrown.
  return { core, backend: backend as Backend, tunnels, routes, status, bridgeAuth, authSections, cluster };
}

/**
 * The `[auth NAME]` sections no `auth` key names: worth a warning, as a section on its own
 * guards nothing, and a forgotten `auth = NAME` leaves the bridge or route open.
 */
export function unusedAuthSections(setup: Setup): string[] {
  const used = new Set([setup.bridgeAuth, ...setup.routes.map((route) => route.auth)].flatMap((policy) => policy?.sections ?? []));
  return [...setup.authSections].filter(([, section]) => !used.has(section)).map(([name]) => name);
}

/** `[core]` keys a file may give more than once on purpose: `backend` swaps the backend, as in websocksy. */
const REPEATABLE_CORE_KEYS: ReadonlySet<string> = new Set(BACKEND_CORE_KEYS);

export interface RepeatedKey {
  readonly key: string;
  /** The line that counts, the later one. */
  readonly counted: SettingOrigin;
  readonly earlier: SettingOrigin;
}

/**
 * `[core]` keys the config file gives twice (flags override the file on purpose, and are left
 * out). The later line counts, as in websocksy; the earlier one was most likely forgotten, so
 * the start warns, naming both lines.
 */
export function repeatedCoreKeys(settings: readonly Setting[]): RepeatedKey[] {
  const first = new Map<string, SettingOrigin>();
  const repeated: RepeatedKey[] = [];
  for (const { scope, key, origin } of settings) {
    if (scope !== 'core' || !('file' in origin) || REPEATABLE_CORE_KEYS.has(key)) continue;
    const earlier = first.get(key);
    if (earlier === undefined) first.set(key, origin);
    else repeated.push({ key, counted: origin, earlier });
  }
  return repeated;
}
