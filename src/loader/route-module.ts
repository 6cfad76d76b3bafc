/*
 * Route modules (`[route /prefix] module = FILE`): ES modules whose default export is a
 * RouteModule (core/route-api.ts). Each route loads an instance of its own, and the export is
 * checked when it loads, so a module of the wrong shape (a misspelt handler, a handler that is
 * no function, a module that serves nothing) is a start-up error naming the file, not a
 * surprise at the first request. What is kept is a snapshot of the handlers, bound to their
 * objects: a module that changes its export later changes nothing.
 */
import type { RouteModule, RouteWebSocket } from '../core/route-api.js';
import { PluginError } from '../core/plugin-error.js';
import { defaultExport, isFunction } from './js-plugin.js';

const MODULE_HANDLERS = ['init', 'request', 'close'] as const;
const MODULE_MEMBERS = [...MODULE_HANDLERS, 'websocket'] as const;
const SOCKET_HANDLERS = ['accept', 'open', 'message', 'drain', 'close'] as const;

type Handler = (...args: never[]) => unknown;

/**
 * The functions `object` holds under `names` (each optional), bound to it. A member not in
 * `known`, or one of `names` that is no function, is a PluginError saying so.
 */
function handlersOf(object: Record<string, unknown>, known: readonly string[], names: readonly string[], what: string, file: string): Map<string, Handler> {
  const unknown = Object.keys(object).filter((key) => !known.includes(key));
  if (unknown.length > 0) throw new PluginError(file, `${what} has ${unknown.map((key) => `"${key}"`).join(', ')}, which a route module does not have (known: ${known.join(', ')})`);
  const handlers = new Map<string, Handler>();
  for (const name of names) {
    const value = object[name];
    if (value === undefined) continue;
    if (!isFunction(value)) throw new PluginError(file, `${what}'s ${name} is not a function`);
    handlers.set(name, value.bind(object));
  }
  return handlers;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function checkWebSocket(value: unknown, file: string, prefix: string): RouteWebSocket {
  if (!isRecord(value)) throw new PluginError(file, 'websocket must be an object of handlers { accept?, open?, message?, drain?, close? }');
  // Upgrades that no route claims are the bridge's, and on / that is all of them.
  if (prefix === '/') throw new PluginError(file, "has websocket handlers, but on [route /] WebSocket upgrades are the bridge's: give the module a prefix of its own");
  const handlers = handlersOf(value, SOCKET_HANDLERS, SOCKET_HANDLERS, 'websocket', file);
  if (!handlers.has('open') && !handlers.has('message')) throw new PluginError(file, 'websocket has neither open nor message: it would never hear from a client');
  return Object.freeze(Object.fromEntries(handlers) as RouteWebSocket);
}

/**
 * The checked route module `file` exports, loaded as the instance of the route at `prefix` in
 * configuration `generation` (each reload loads fresh instances, with the file as it is now:
 * the previous ones still serve their open sockets until they close).
 */
export async function loadRouteModule(file: string, prefix: string, generation: number): Promise<RouteModule> {
  const exported = await defaultExport(file, generation === 0 ? prefix : `${prefix}#${generation}`);
  if (!isRecord(exported)) throw new PluginError(file, 'the default export must be a route module { init?, request?, websocket?, close? }');
  const handlers = handlersOf(exported, MODULE_MEMBERS, MODULE_HANDLERS, 'the default export', file);
  const websocket = exported['websocket'] === undefined ? undefined : checkWebSocket(exported['websocket'], file, prefix);
  if (!handlers.has('request') && websocket === undefined) throw new PluginError(file, 'serves nothing: the default export has neither request nor websocket');
  return Object.freeze({ ...(Object.fromEntries(handlers) as RouteModule), ...(websocket === undefined ? {} : { websocket }) });
}
