/*
 * HTTP routes: a path prefix mapped to what serves it. Prefixes match whole segments (`/foo`
 * claims `/foo` and `/foo/...`, never `/foobar`) and the longest one wins, whatever the order
 * of the config file.
 */
import type { AuthPolicy } from '../auth/policy.js';
import type { DestinationAllowList } from '../lib/destination-allow.js';
import type { ProxyVersion } from '../lib/proxy-header.js';
import type { UpstreamTls } from '../lib/tls-upstream.js';

/*
 * `allow` (null: none) is the route's destination allow-list (docs/allow-lists.md): the address
 * its upstream's name resolves to must be on it, on every connection. `tls` verifies an
 * https:// or wss:// upstream. `proxyProtocol` (null: none) is the PROXY header that leads each
 * upstream or peer connection (docs/client-address.md).
 */
export type RouteTarget =
  /** An HTTP upstream, reached directly (`via` null) or through a tunnel (an upstream's label or an identity). */
  | { readonly kind: 'http'; readonly url: URL; readonly via: string | null; readonly allow: DestinationAllowList | null; readonly tls: UpstreamTls; readonly proxyProtocol: ProxyVersion | null }
  /** A remote WebSocket: upgrades on the prefix are proxied message by message. */
  | { readonly kind: 'websocket'; readonly url: URL; readonly allow: DestinationAllowList | null; readonly tls: UpstreamTls; readonly proxyProtocol: ProxyVersion | null }
  /**
   * Files under a folder (a real path), GET and HEAD only. `maxAge`: seconds a cache may keep
   * a file without asking again, or null to have it revalidate every time (`no-cache`).
   */
  | { readonly kind: 'static'; readonly root: string; readonly maxAge: number | null }
  /**
   * A route module (an ES module file, absolute) served in-process, with its `module-config`
   * (null without one). `maxBody` bounds a request body, `maxMessage` a WebSocket message.
   */
  | { readonly kind: 'module'; readonly file: string; readonly config: string | null; readonly maxBody: number; readonly maxMessage: number }
  /**
   * A network peer (a peer address, checked): upgrades on the prefix are bridged to it like the
   * bridge's, and `resumable` lets its connections outlive their clients (docs/sessions.md).
   */
  | { readonly kind: 'peer'; readonly address: string; readonly resumable: boolean; readonly allow: DestinationAllowList | null; readonly proxyProtocol: ProxyVersion | null };

export interface Route {
  /** No trailing slash, except the root route `/`. */
  readonly prefix: string;
  readonly target: RouteTarget;
  /** `keep` forwards the client's Host header; `rewrite` sends the upstream's host:port. */
  readonly host: 'keep' | 'rewrite';
  /**
   * How long an upstream may take to answer with its headers, once the request is sent; for a
   * module, how long an exchange may stand still before its answer is complete.
   */
  readonly timeoutMs: number;
  /** `auth = NAME, ...`: who may use the route; null when anyone may. */
  readonly auth: AuthPolicy | null;
}

/** `/foo/` and `/foo` are the same prefix. */
export function normalisePrefix(prefix: string): string {
  const trimmed = prefix.replace(/\/+$/, '');
  return trimmed === '' ? '/' : trimmed;
}

/** True when `path` lies under `prefix`, segment by segment. */
export function underPrefix(prefix: string, path: string): boolean {
  if (prefix === '/') return path.startsWith('/');
  return path === prefix || (path.startsWith(prefix) && path.charCodeAt(prefix.length) === 0x2f);
}

/** The part of `path` after the route's prefix: '' or starting with '/'. */
export function restOf(route: Route, path: string): string {
  return route.prefix === '/' ? path : path.slice(route.prefix.length);
}

export class RouteTable {
  /** Longest prefix first, so the first match is the best one. */
  private readonly ordered: readonly Route[];

  constructor(readonly routes: readonly Route[]) {
    this.ordered = [...routes].sort((a, b) => b.prefix.length - a.prefix.length);
  }

  match(path: string): Route | null {
    return this.ordered.find((route) => underPrefix(route.prefix, path)) ?? null;
  }
}
