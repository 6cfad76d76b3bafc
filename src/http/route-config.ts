/*
 * The `[route /prefix]` sections: what serves a path prefix on the listener's port.
 *   to = http://host:port/base      an HTTP upstream (with via = NAME: through a tunnel)
 *   websocket = ws://host:port/path a remote WebSocket
 *   static = /srv/www               a folder
 *   host = keep | rewrite           the Host header sent upstream (default rewrite)
 *   timeout = 30                    seconds an upstream may take to answer (default 30)
 * Every error names the file, line and key.
 */
import { realpathSync, statSync } from 'node:fs';
import { ConfigError, type Setting, type SettingOrigin } from '../core/config.js';
import { errorMessage } from '../core/errors.js';
import { seconds, type TunnelConfig } from '../tunnel/config.js';
import { normalisePrefix, type Route, type RouteTarget } from './route-table.js';

export const DEFAULT_TIMEOUT_SECONDS = 30;

interface Draft {
  readonly prefix: string;
  readonly origin: SettingOrigin;
  to?: { url: URL; origin: SettingOrigin };
  via?: { name: string; origin: SettingOrigin };
  websocket?: URL;
  static?: string;
  host: 'keep' | 'rewrite';
  timeoutMs: number;
  readonly seen: Set<string>;
}

function parseUrl(value: string, schemes: readonly string[]): URL {
  let url: URL;
  try {
    url = new URL(value.trim());
  } catch {
    throw new Error(`"${value}" is not a URL`);
  }
  if (!schemes.includes(url.protocol)) throw new Error(`"${value}" is not a ${schemes.map((scheme) => `${scheme}//`).join(' or ')} URL`);
  if (url.username !== '' || url.password !== '') throw new Error(`"${value}" carries credentials; routes do not send them`);
  if (url.search !== '' || url.hash !== '') throw new Error(`"${value}" has a query or fragment; the client's query is what goes upstream`);
  return url;
}

function folder(value: string): string {
  const path = value.trim();
  let real: string;
  try {
    real = realpathSync(path);
  } catch (error) {
    throw new Error(`cannot use folder ${path}: ${(error as NodeJS.ErrnoException).code ?? errorMessage(error)}`);
  }
  if (!statSync(real).isDirectory()) throw new Error(`${path} is not a folder`);
  return real;
}

function apply(draft: Draft, key: string, value: string, origin: SettingOrigin): void {
  if (draft.seen.has(key)) throw new Error('given twice in this route');
  draft.seen.add(key);
  if (key === 'to') draft.to = { url: parseUrl(value, ['http:']), origin };
  else if (key === 'via') {
    if (!/^[\w.@-]+$/.test(value.trim())) throw new Error(`"${value}" is not an upstream or identity name`);
    draft.via = { name: value.trim(), origin };
  } else if (key === 'websocket') draft.websocket = parseUrl(value, ['ws:', 'wss:']);
  else if (key === 'static') draft.static = folder(value);
  else if (key === 'host') {
    const mode = value.trim();
    if (mode !== 'keep' && mode !== 'rewrite') throw new Error(`"${value}" is neither keep nor rewrite`);
    draft.host = mode;
  } else if (key === 'timeout') draft.timeoutMs = seconds(value, 0.01, 86400) * 1000;
  else throw new Error('unknown key (known: to, via, websocket, static, host, timeout)');
}

function finish(draft: Draft, tunnels: TunnelConfig): Route {
  const kinds = [draft.to, draft.websocket, draft.static].filter((kind) => kind !== undefined).length;
  const name = `[route ${draft.prefix}]`;
  if (kinds !== 1) throw new ConfigError(`${name} needs exactly one of to, websocket, static`, draft.origin);
  // Those paths are registered with uWS already; the same pattern twice aborts the process.
  const taken = [tunnels.server?.path, tunnels.statusPath].find((path) => path != null && normalisePrefix(path) === draft.prefix);
  if (taken !== undefined) throw new ConfigError(`${name}: ${draft.prefix} is the tunnel or status path`, draft.origin);
  let target: RouteTarget;
  if (draft.to !== undefined) {
    const via = draft.via?.name ?? null;
    if (via !== null && tunnels.server === null && !tunnels.upstreams.some((upstream) => upstream.label === via)) {
      throw new ConfigError(`via: "${via}" is neither an [upstream ${via}] section nor, without a [tunnel] section, an identity that could connect here`, draft.via?.origin);
    }
    target = { kind: 'http', url: draft.to.url, via };
  } else if (draft.via !== undefined) {
    throw new ConfigError('via: only a route with "to = http://..." goes through a tunnel', draft.via.origin);
  } else if (draft.websocket !== undefined) {
    // Upgrades that no route claims belong to the bridge; the root is always the bridge's.
    if (draft.prefix === '/') throw new ConfigError(`${name}: a websocket route needs a prefix other than /, which is the bridge's`, draft.origin);
    target = { kind: 'websocket', url: draft.websocket };
  } else {
    target = { kind: 'static', root: draft.static as string };
  }
  return { prefix: draft.prefix, target, host: draft.host, timeoutMs: draft.timeoutMs, origin: draft.origin };
}

/** The routes of the `[route …]` sections, in file order. */
export function buildRoutes(settings: readonly Setting[], tunnels: TunnelConfig): Route[] {
  const drafts = new Map<string, Draft>();
  for (const { scope, key, value, origin } of settings) {
    if (scope !== 'route' || !('section' in origin)) continue;
    const prefix = normalisePrefix(origin.section.replace(/^route\s+/, ''));
    let draft = drafts.get(prefix);
    if (draft === undefined) {
      draft = { prefix, origin, host: 'rewrite', timeoutMs: DEFAULT_TIMEOUT_SECONDS * 1000, seen: new Set() };
      drafts.set(prefix, draft);
    }
    try {
      apply(draft, key, value, origin);
    } catch (error) {
      throw new ConfigError(`${key}: ${errorMessage(error)}`, origin);
    }
  }
  return [...drafts.values()].map((draft) => finish(draft, tunnels));
}
