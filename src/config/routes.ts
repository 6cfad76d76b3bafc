/*
 * The `[route /prefix]` sections: what serves a path prefix on the listener's port.
 *   to = http://host:port/base      an HTTP upstream (with via = NAME: through a tunnel), or https://
 *   websocket = ws://host:port/path a remote WebSocket, or wss://
 *   ca = FILE                       https/wss only: trust only the CAs in FILE
 *   fingerprint = sha256:HEX        https/wss only: the upstream certificate's SHA-256
 *   static = /srv/www               a folder
 *   peer = tcp://host:port          a network peer, bridged like the bridge's
 *   resumable = yes                 peer only: its connections may outlive their clients
 *   proxy-protocol = v2             to (without via), ws:// websocket and stream peer routes:
 *                                   a PROXY header (v1 or v2) with the client's address leads
 *                                   each upstream connection (docs/client-address.md)
 *   module = plugins/route_chat.mjs an ES module served in-process (src/core/route-api.ts)
 *   module-config = TEXT            module only: handed to the module's init()
 *   max-body = 1m                   module only: the largest request body (default 1 MiB)
 *   max-message = 16m               module only: the largest WebSocket message (default 16 MiB)
 *   max-age = 3600                  static only: seconds a cache may keep a file without
 *                                   asking (default: none, every use revalidates)
 *   allow = tcp:10.0.0.0/8:*        to, websocket and peer: where the upstream may resolve to
 *                                   (docs/allow-lists.md); without it, the configured host as is
 *   host = keep | rewrite           the Host header sent upstream (default rewrite)
 *   auth = NAME, NAME               [auth NAME] sections, any one of which admits a client
 *                                   (docs/auth.md; default: anyone may use the route)
 *   timeout = 30                    seconds an upstream may stand still: for its response head
 *                                   once the request is sent, taking an upload, sending a body;
 *                                   for a module, seconds an exchange may stand still before
 *                                   its answer is complete (default 30)
 * Every error names the file, line and key; a relative folder is read from the config file's.
 */
import { realpathSync, statSync } from 'node:fs';
import { extname } from 'node:path';
import { parsePeerAddress } from '../core/peer-address.js';
import { normalisePath } from '../front/path.js';
import { normalisePrefix, type Route, type RouteTarget } from '../http/route-table.js';
import { errorCode, errorMessage } from '../lib/errors.js';
import { parseBoolean, parseCount, parseSeconds, parseSize } from '../lib/grammar.js';
import { DestinationAllowList, type Destination } from '../lib/destination-allow.js';
import { parseDestinationRules } from '../lib/destination-rules.js';
import { parseProxyVersion, type ProxyVersion } from '../lib/proxy-header.js';
import { DEFAULT_UPSTREAM_TLS, parseFingerprint, readCaFile, type UpstreamTls } from '../lib/tls-upstream.js';
import { parseConfigUrl, portOf, socketHost } from '../lib/url.js';
import type { TunnelConfig } from '../tunnel/options.js';
import { authPolicyOf, parseAuthNames, type AuthSections } from './auth-sections.js';
import { ConfigError, pathFrom, SECTION_START, sectionOf, type Setting, type SettingOrigin } from './settings.js';
import { checkUpstreamTls } from './tunnels.js';

export const DEFAULT_TIMEOUT_SECONDS = 30;
/** One year: RFC 2616 §14.21 already asked servers not to promise freshness beyond it. */
const MAX_AGE_LIMIT = 365 * 86400;
const DEFAULT_MAX_BODY = 1024 * 1024;
const DEFAULT_MAX_MESSAGE = 16 * 1024 * 1024;
/**
 * uWS cuts a request whose Content-Length has ten digits (docs/routes.md, Limits), and keeps
 * maxPayloadLength in 32 bits: larger limits could never be reached.
 */
const BODY_LIMIT = 999_999_999;
const MESSAGE_LIMIT = 1024 * 1024 * 1024;

/** A value and the line that gave it, for a key whose error shows up only once the route is whole. */
interface Given<T> {
  readonly value: T;
  readonly origin: SettingOrigin;
}

interface Draft {
  readonly prefix: string;
  readonly origin: SettingOrigin;
  to?: { url: URL; origin: SettingOrigin };
  via?: { name: string; origin: SettingOrigin };
  websocket?: URL;
  static?: string;
  module?: string;
  peer?: string;
  allow?: Given<DestinationAllowList>;
  resumable?: Given<boolean>;
  proxyProtocol?: Given<ProxyVersion | 'off'>;
  maxAge?: { seconds: number; origin: SettingOrigin };
  moduleConfig?: Given<string>;
  maxBody?: Given<number>;
  maxMessage?: Given<number>;
  auth?: Given<string[]>;
  host: 'keep' | 'rewrite';
  timeoutMs: number;
  tls: UpstreamTls;
  /** Where `ca` or `fingerprint` was given. */
  tlsOrigin?: SettingOrigin;
  readonly seen: Set<string>;
}

/** The keys of [route /PREFIX], for its errors and websocksy --help. */
export const ROUTE_KEYS = ['to', 'via', 'websocket', 'static', 'module', 'peer', 'allow', 'module-config', 'resumable', 'proxy-protocol', 'host', 'timeout', 'max-age', 'max-body', 'max-message', 'ca', 'fingerprint', 'auth'] as const;

function folder(value: string, origin: SettingOrigin): string {
  const path = pathFrom(origin, value.trim());
  let real: string;
  try {
    real = realpathSync(path);
  } catch (error) {
    throw new Error(`cannot use folder ${path}: ${errorCode(error)}`);
  }
  if (!statSync(real).isDirectory()) throw new Error(`${path} is not a folder`);
  return real;
}

/** An ES module file: node:import reads .mjs as one, and .js under a package.json of type module. */
function moduleFile(value: string, origin: SettingOrigin): string {
  const path = pathFrom(origin, value.trim());
  if (extname(path) !== '.mjs' && extname(path) !== '.js') throw new Error(`${path} is not an ES module file (.mjs or .js)`);
  let isFile: boolean;
  try {
    isFile = statSync(path).isFile();
  } catch (error) {
    throw new Error(`cannot use module ${path}: ${errorCode(error)}`);
  }
  if (!isFile) throw new Error(`${path} is not a file`);
  return path;
}

/** A peer as the bridge takes it: tcp and udp with a port (parsePeerAddress insists), unix paths. */
function peerAddress(value: string): string {
  const text = value.trim();
  const parsed = parsePeerAddress(text);
  if (parsed.guessedTransport) throw new Error(`"${value}" has no scheme (tcp://, udp://, unix://, unix-dgram://)`);
  return text;
}

function apply(draft: Draft, key: string, value: string, origin: SettingOrigin): void {
  if (draft.seen.has(key)) throw new Error('given twice in this route');
  draft.seen.add(key);
  if (key === 'to') draft.to = { url: parseConfigUrl(value, { schemes: ['http:', 'https:'] }), origin };
  else if (key === 'via') {
    if (!/^[\x21-\x7e]{1,256}$/.test(value.trim())) throw new Error(`"${value}" is not an upstream or identity name`);
    draft.via = { name: value.trim(), origin };
  } else if (key === 'websocket') draft.websocket = parseConfigUrl(value, { schemes: ['ws:', 'wss:'] });
  else if (key === 'static') draft.static = folder(value, origin);
  else if (key === 'module') draft.module = moduleFile(value, origin);
  else if (key === 'peer') draft.peer = peerAddress(value);
  else if (key === 'allow') draft.allow = { value: new DestinationAllowList(parseDestinationRules(value), `allow of [route ${draft.prefix}]`), origin };
  else if (key === 'resumable') draft.resumable = { value: parseBoolean(value), origin };
  else if (key === 'proxy-protocol') draft.proxyProtocol = { value: parseProxyVersion(value), origin };
  else if (key === 'module-config') draft.moduleConfig = { value, origin };
  else if (key === 'max-body') draft.maxBody = { value: parseSize(value, 0, BODY_LIMIT), origin };
  else if (key === 'max-message') draft.maxMessage = { value: parseSize(value, 1, MESSAGE_LIMIT), origin };
  else if (key === 'host') {
    const mode = value.trim();
    if (mode !== 'keep' && mode !== 'rewrite') throw new Error(`"${value}" is neither keep nor rewrite`);
    draft.host = mode;
  } else if (key === 'timeout') draft.timeoutMs = parseSeconds(value, 0.01, 86400) * 1000;
  else if (key === 'max-age') draft.maxAge = { seconds: parseCount(value, 0, MAX_AGE_LIMIT), origin };
  else if (key === 'ca') {
    draft.tls = { ...draft.tls, ca: readCaFile(pathFrom(origin, value.trim())) };
    draft.tlsOrigin = origin;
  } else if (key === 'fingerprint') {
    draft.tls = { ...draft.tls, fingerprint: parseFingerprint(value) };
    draft.tlsOrigin = origin;
  } else if (key === 'auth') draft.auth = { value: parseAuthNames(value), origin };
  else throw new Error(`unknown key (known: ${ROUTE_KEYS.join(', ')})`);
}

/**
 * The route's PROXY header, where one can lead the connection websocksy makes: a direct HTTP
 * upstream, a ws:// one, a stream peer. Not through a tunnel (the far end makes the connection),
 * not to https:// or wss:// (the TLS handshake would have to follow the header on the same
 * socket: not built), not to datagram peers (no connection start).
 */
function routeProxyProtocol(draft: Draft): ProxyVersion | null {
  const given = draft.proxyProtocol;
  if (given === undefined || given.value === 'off') return null;
  const refuse = (why: string): never => {
    throw new ConfigError(`proxy-protocol: ${why}`, given.origin);
  };
  if (draft.to !== undefined && draft.via !== undefined) refuse('not through a tunnel (via): the far end makes the connection');
  if (draft.peer !== undefined && /^(udp|unix-dgram):/i.test(draft.peer)) refuse('only to tcp and unix stream peers (a datagram peer has no connection start)');
  if (draft.websocket !== undefined && draft.websocket.protocol !== 'ws:') refuse('only to ws:// upstreams, not wss://');
  if (draft.to !== undefined && draft.to.url.protocol !== 'http:') refuse('only to http:// upstreams, not https://');
  if (draft.to === undefined && draft.peer === undefined && draft.websocket === undefined) refuse('only a route with "to", "websocket" or "peer" sets it');
  return given.value;
}

/** Where a route's fixed upstream leads, as its allow-list sees it. */
function destinationOf(target: RouteTarget): Destination | null {
  if (target.kind === 'http' || target.kind === 'websocket') return { transport: 'tcp', host: socketHost(target.url), port: portOf(target.url) };
  if (target.kind !== 'peer') return null;
  const { address } = parsePeerAddress(target.address);
  return 'path' in address ? { transport: address.transport, path: address.path } : { transport: address.transport, host: address.host, port: address.port };
}

/**
 * A route's allow: only where an upstream is dialled from here, and never one that refuses the
 * route's own upstream when that is an address or a path (a name is checked on each connection).
 */
function checkAllow(target: RouteTarget, allow: Given<DestinationAllowList>): void {
  if (target.kind === 'http' && target.via !== null) {
    throw new ConfigError(`allow: a route through a tunnel is dialled by the far side, whose accept = or connect= decides`, allow.origin);
  }
  const destination = destinationOf(target);
  if (destination === null) throw new ConfigError('allow: only a route with to, websocket or peer sets it', allow.origin);
  if (target.kind !== 'peer' && allow.value.rules.some((rule) => rule.transport !== 'tcp')) {
    throw new ConfigError(`allow: a ${target.kind === 'http' ? 'to' : 'websocket'} route reaches its upstream over tcp: only tcp rules apply`, allow.origin);
  }
  if (allow.value.coversLiteral(destination) === false) {
    throw new ConfigError(`allow: the route's own upstream is not in it, so every request would be refused`, allow.origin);
  }
}

function finish(draft: Draft, tunnels: TunnelConfig, authSections: AuthSections, reserved: readonly string[]): Route {
  const kinds = [draft.to, draft.websocket, draft.static, draft.module, draft.peer].filter((kind) => kind !== undefined).length;
  const name = `[route ${draft.prefix}]`;
  if (kinds !== 1) throw new ConfigError(`${name} needs exactly one of to, websocket, static, module, peer`, draft.origin);
  if (draft.resumable !== undefined && draft.peer === undefined) throw new ConfigError('resumable: only a route with "peer = ADDRESS" sets it', draft.resumable.origin);
  // Those paths are registered with uWS already; the same pattern twice aborts the process.
  const taken = [tunnels.server?.path, ...reserved].find((path) => path !== undefined && normalisePrefix(path) === draft.prefix);
  if (taken !== undefined) throw new ConfigError(`${name}: ${draft.prefix} is the tunnel or status path`, draft.origin);
  if (draft.maxAge !== undefined && draft.static === undefined) throw new ConfigError('max-age: only a route with "static = DIR" sets it', draft.maxAge.origin);
  for (const [key, given] of [['module-config', draft.moduleConfig], ['max-body', draft.maxBody], ['max-message', draft.maxMessage]] as const) {
    if (given !== undefined && draft.module === undefined) throw new ConfigError(`${key}: only a route with "module = FILE" sets it`, given.origin);
  }
  const proxyProtocol = routeProxyProtocol(draft);
  const upstreamUrl = draft.to?.url ?? draft.websocket;
  if (draft.tlsOrigin !== undefined) {
    const problem = upstreamUrl === undefined ? 'ca and fingerprint verify a to = https:// or websocket = wss:// upstream' : checkUpstreamTls(upstreamUrl.href, draft.tls);
    if (problem !== null) throw new ConfigError(`${name}: ${problem}`, draft.tlsOrigin);
  }
  let target: RouteTarget;
  if (draft.to !== undefined) {
    const via = draft.via?.name ?? null;
    if (via !== null && draft.to.url.protocol === 'https:') {
      throw new ConfigError(`${name}: through a tunnel (via) the upstream is reached over the tunnel's own connection: give to = http://`, draft.to.origin);
    }
    if (via !== null && tunnels.server === null && !tunnels.upstreams.some((upstream) => upstream.label === via)) {
      throw new ConfigError(`via: "${via}" is neither an [upstream ${via}] section nor, without a [tunnel] section, an identity that could connect here`, draft.via?.origin);
    }
    target = { kind: 'http', url: draft.to.url, via, allow: draft.allow?.value ?? null, tls: draft.tls, proxyProtocol };
  } else if (draft.via !== undefined) {
    throw new ConfigError('via: only a route with "to = http://..." goes through a tunnel', draft.via.origin);
  } else if (draft.websocket !== undefined) {
    // Upgrades that no route claims belong to the bridge; the root is always the bridge's.
    if (draft.prefix === '/') throw new ConfigError(`${name}: a websocket route needs a prefix other than /, which is the bridge's`, draft.origin);
    target = { kind: 'websocket', url: draft.websocket, allow: draft.allow?.value ?? null, tls: draft.tls, proxyProtocol };
  } else if (draft.peer !== undefined) {
    if (draft.prefix === '/') throw new ConfigError(`${name}: a peer route needs a prefix other than /, which is the bridge's`, draft.origin);
    target = { kind: 'peer', address: draft.peer, resumable: draft.resumable?.value ?? false, allow: draft.allow?.value ?? null, proxyProtocol };
  } else if (draft.module !== undefined) {
    target = {
      kind: 'module',
      file: draft.module,
      config: draft.moduleConfig?.value ?? null,
      maxBody: draft.maxBody?.value ?? DEFAULT_MAX_BODY,
      maxMessage: draft.maxMessage?.value ?? DEFAULT_MAX_MESSAGE,
    };
  } else {
    target = { kind: 'static', root: draft.static as string, maxAge: draft.maxAge?.seconds ?? null };
  }
  if (draft.allow !== undefined) checkAllow(target, draft.allow);
  const auth = draft.auth === undefined ? null : authPolicyOf(draft.auth.value, draft.auth.origin, authSections);
  return { prefix: draft.prefix, target, host: draft.host, timeoutMs: draft.timeoutMs, auth };
}

/**
 * The routes of the `[route …]` sections, in file order. `reserved`: paths served by something
 * else on the same listener (the status path).
 */
export function buildRoutes(settings: readonly Setting[], tunnels: TunnelConfig, authSections: AuthSections, reserved: readonly string[] = []): Route[] {
  const drafts = new Map<string, Draft>();
  for (const { scope, key, value, origin } of settings) {
    if (scope !== 'route') continue;
    const prefix = normalisePrefix(sectionOf(origin).replace(/^route\s+/, ''));
    let draft = drafts.get(prefix);
    if (draft === undefined) {
      const normalised = normalisePath(prefix);
      if ('problem' in normalised || normalisePrefix(normalised.path) !== prefix) {
        throw new ConfigError(`[route ${prefix}]: a prefix is a plain path (no ., .. or empty segments, no %2F), as requests are matched after normalising them`, origin);
      }
      draft = { prefix, origin, host: 'rewrite', timeoutMs: DEFAULT_TIMEOUT_SECONDS * 1000, tls: DEFAULT_UPSTREAM_TLS, seen: new Set() };
      drafts.set(prefix, draft);
    }
    if (key === SECTION_START) continue;
    try {
      apply(draft, key, value, origin);
    } catch (error) {
      throw new ConfigError(`${key}: ${errorMessage(error)}`, origin);
    }
  }
  return [...drafts.values()].map((draft) => finish(draft, tunnels, authSections, reserved));
}
