/*
 * JS plugins: ES modules (.mjs, or .js where the package type says module) with the same contract
 * as the builtins, as api.ts defines it.
 *   backend_NAME.mjs  default export: a BackendFactory, `(host) => Backend`.
 *   framing_NAME.mjs  default export: a FramingDefinition, or an array of them.
 * A module is checked when it loads, so a plugin of the wrong shape is a start-up error naming
 * the file; a backend's answers are checked on every query (peer-answer.ts).
 */
import { pathToFileURL } from 'node:url';
import type { Backend, BackendHost, FramingDefinition, FramingModule, PeerInfo, PeerQuery } from '../core/api.js';
import { errorMessage } from '../lib/errors.js';
import { checkedAnswer, checkFramingConfig } from '../core/peer-answer.js';
import { PluginError } from '../core/plugin-error.js';

/**
 * The default export of the ES module `file`. A distinct `instance` loads a module instance of
 * its own (Node keys its module cache by URL, query included), with state of its own.
 */
export async function defaultExport(file: string, instance?: string): Promise<unknown> {
  const url = pathToFileURL(file);
  if (instance !== undefined) url.searchParams.set('instance', instance);
  let module: unknown;
  try {
    module = await import(url.href);
  } catch (error) {
    throw new PluginError(file, `cannot load: ${errorMessage(error)}`);
  }
  if (typeof module !== 'object' || module === null || !('default' in module)) {
    throw new PluginError(file, 'has no default export');
  }
  return module.default;
}

export function isFunction(value: unknown): value is (...args: never[]) => unknown {
  return typeof value === 'function';
}

function isFramingDefinition(value: unknown): value is FramingDefinition {
  if (typeof value !== 'object' || value === null) return false;
  const fields = value as Record<string, unknown>;
  return (
    typeof fields['name'] === 'string' &&
    fields['name'] !== '' &&
    isFunction(fields['frame']) &&
    (fields['checkConfig'] === undefined || isFunction(fields['checkConfig']))
  );
}

function isFramingModule(value: unknown): value is FramingModule {
  return Array.isArray(value) ? value.length > 0 && value.every(isFramingDefinition) : isFramingDefinition(value);
}

/** The framing definitions a framing_*.mjs module exports. */
export async function loadJsFramings(file: string): Promise<FramingDefinition[]> {
  const exported = await defaultExport(file);
  if (!isFramingModule(exported)) {
    throw new PluginError(file, 'the default export must be a framing definition { name, frame, checkConfig? }, or an array of them');
  }
  return Array.isArray(exported) ? [...(exported as readonly FramingDefinition[])] : [exported as FramingDefinition];
}

function checkBackend(value: unknown, file: string): Backend {
  const problem = (what: string): PluginError => new PluginError(file, `the backend its factory returned ${what}`);
  if (typeof value !== 'object' || value === null) throw problem('is not an object');
  const fields = value as Record<string, unknown>;
  if (typeof fields['name'] !== 'string' || fields['name'] === '') throw problem('has no name');
  if (!isFunction(fields['query'])) throw problem('has no query function');
  for (const optional of ['configure', 'ready', 'cleanup']) {
    if (fields[optional] !== undefined && !isFunction(fields[optional])) throw problem(`has a ${optional} that is not a function`);
  }
  return value as Backend;
}

/** A backend whose every answer is checked, as a plugin's answers are untyped at run time. */
function checkedBackend(backend: Backend, host: BackendHost): Backend {
  const { name } = backend;
  const query = async (request: PeerQuery): Promise<PeerInfo | null> => {
    const answer = checkedAnswer(await backend.query(request), name);
    if (answer !== null) checkFramingConfig(answer, (framing) => host.framing(framing), name);
    return answer;
  };
  return {
    name,
    query,
    ...(backend.configure === undefined ? {} : { configure: backend.configure.bind(backend) }),
    ...(backend.ready === undefined ? {} : { ready: backend.ready.bind(backend) }),
    ...(backend.cleanup === undefined ? {} : { cleanup: backend.cleanup.bind(backend) }),
  };
}

/** The backend a backend_*.mjs module's factory makes. */
export async function loadJsBackend(file: string, host: BackendHost): Promise<Backend> {
  const factory = await defaultExport(file);
  if (!isFunction(factory)) throw new PluginError(file, 'the default export must be a backend factory, (host) => Backend');
  let backend: unknown;
  try {
    backend = (factory as (host: BackendHost) => unknown)(host);
  } catch (error) {
    throw new PluginError(file, `its factory failed: ${errorMessage(error)}`);
  }
  return checkedBackend(checkBackend(backend, file), host);
}
