/*
 * What a front serves (FrontParts), and the view of it the front's uWS handlers read: the
 * parts, and the endpoint each WebSocket pattern names in them. A reload hands the front new
 * parts (app.ts prepare); these say whether the app in use can serve them.
 */
import type { SocketData, WsEndpoint } from '../core/endpoint.js';
import type { AuthPolicy } from '../auth/policy.js';
import type { HttpRoutes } from '../http/routes.js';
import type { SessionStore } from '../session/session-store.js';
import type { BridgeEndpoint } from './bridge-endpoint.js';
import type { StatusEndpoints } from './status-page.js';
import type { ListenerTls } from './tls-app.js';

/** The resumable sessions of the bridge: their path's WebSocket endpoint and HTTP requests. */
export interface FrontSessions {
  readonly store: SessionStore;
  readonly endpoint: WsEndpoint<SocketData>;
}

export interface FrontParts {
  /** The bridge: takes every upgrade nothing else claims. Null on route-only listeners. */
  readonly bridge: BridgeEndpoint | null;
  /** Who may use the bridge (`[core] auth`): its upgrades and sessions opened over HTTP. Null: anyone. */
  readonly bridgeAuth: AuthPolicy | null;
  /** Present with the bridge. */
  readonly sessions: FrontSessions | null;
  readonly tunnel: { readonly path: string; readonly endpoint: WsEndpoint<SocketData> } | null;
  readonly routes: HttpRoutes | null;
  /**
   * The status JSON and page at `path` (null: at every path, on a listener of its own), for
   * readers `access` admits; the Prometheus metrics and the page's pieces at their own paths.
   */
  readonly status: StatusEndpoints | null;
}

/** What a front serves: its parts, and the endpoint each WebSocket pattern names in them. */
export interface View {
  readonly parts: FrontParts;
  readonly patterns: ReadonlyMap<string, WsEndpoint<SocketData>>;
}

/** The WebSocket endpoints `parts` serves, by the uWS pattern each is registered under. */
export function socketPatterns(parts: FrontParts): Map<string, WsEndpoint<SocketData>> {
  const patterns = new Map<string, WsEndpoint<SocketData>>();
  const add = (pattern: string, endpoint: WsEndpoint<SocketData>): void => {
    // uWS aborts the process on a pattern registered twice; the config checks this too.
    if (patterns.has(pattern)) throw new Error(`two WebSocket endpoints on ${pattern}`);
    patterns.set(pattern, endpoint);
  };
  if (parts.tunnel !== null) add(parts.tunnel.path, parts.tunnel.endpoint);
  if (parts.sessions !== null) add(parts.sessions.store.settings.path, parts.sessions.endpoint);
  for (const { prefix, endpoint } of parts.routes?.socketEndpoints() ?? []) {
    add(prefix, endpoint);
    add(`${prefix}/*`, endpoint);
  }
  if (parts.bridge !== null) add('/*', parts.bridge);
  return patterns;
}

export function sameCertificates(a: ListenerTls | null, b: ListenerTls | null): boolean {
  if (a === null || b === null) return a === b;
  return a.default.digest === b.default.digest && a.names.size === b.names.size && [...a.names].every(([name, certificate]) => b.names.get(name)?.digest === certificate.digest);
}

