/*
 * Finds a backend by name. The builtins for now; drop-in plugins from the plugin folder come
 * through here too once they are supported.
 */
import type { Backend, BackendHost } from './api.js';
import { builtinBackends } from '../backends/index.js';

export function loadBackend(name: string, host: BackendHost): Backend {
  const factory = builtinBackends.get(name);
  if (factory === undefined) {
    throw new Error(`unknown backend (built in: ${[...builtinBackends.keys()].join(', ')})`);
  }
  return factory(host);
}
