/*
 * Applies the ordered settings: core options fill the CoreConfig, `backend` swaps the backend
 * (cleaning up the old one, as websocksy does), and backend options go to the backend loaded at
 * that moment. Every failure is a ConfigError naming the file and line or the flag.
 */
import type { Backend } from './api.js';
import { ConfigError, type Setting, type SettingOrigin } from './config.js';
import { errorMessage } from './errors.js';
import { defaultCoreConfig, findCoreOption, type CoreConfig } from './options.js';
import { buildRoutes } from '../http/route-config.js';
import type { Route } from '../http/route-table.js';
import { buildTunnelConfig, type TunnelConfig } from '../tunnel/config.js';

export type BackendLoader = (name: string) => Backend | Promise<Backend>;

export interface Setup {
  readonly core: CoreConfig;
  readonly backend: Backend;
  readonly tunnels: TunnelConfig;
  readonly routes: Route[];
}

const DEFAULT_BACKEND = 'defaultpeer';

async function load(loader: BackendLoader, name: string, origin?: SettingOrigin): Promise<Backend> {
  try {
    return await loader(name);
  } catch (error) {
    throw new ConfigError(`backend "${name}": ${errorMessage(error)}`, origin);
  }
}

export async function applySettings(settings: readonly Setting[], loader: BackendLoader): Promise<Setup> {
  const core: CoreConfig = { ...defaultCoreConfig };
  let backend = await load(loader, DEFAULT_BACKEND);
  const tunnels = buildTunnelConfig(settings);
  const routes = buildRoutes(settings, tunnels);
  for (const setting of settings) {
    const { key, value, origin } = setting;
    if (setting.scope === 'tunnel' || setting.scope === 'upstream' || setting.scope === 'status' || setting.scope === 'route') continue;
    if (setting.scope === 'backend') {
      if (backend.configure === undefined) {
        throw new ConfigError(`backend "${backend.name}" takes no options (key "${key}")`, origin);
      }
      try {
        backend.configure(key, value);
      } catch (error) {
        throw new ConfigError(`backend "${backend.name}" rejected ${key} = ${value}: ${errorMessage(error)}`, origin);
      }
    } else if (key === 'backend') {
      await backend.cleanup?.();
      backend = await load(loader, value.trim(), origin);
    } else {
      const option = findCoreOption(key);
      if (option === undefined) throw new ConfigError(`unknown core option "${key}"`, origin);
      try {
        option.apply(core, value);
      } catch (error) {
        throw new ConfigError(`${key}: ${errorMessage(error)}`, origin);
      }
    }
  }
  try {
    backend.ready?.();
  } catch (error) {
    throw new ConfigError(`backend "${backend.name}": ${errorMessage(error)}`);
  }
  return { core, backend, tunnels, routes };
}
