/*
 * The tunnel sections of the config file: [tunnel] (accept tunnels) and [upstream NAME] (keep a
 * tunnel to another instance, with its port forwards).
 * Every error names the file, line and key through ConfigError; relative files (identities,
 * token-file) are read from the config file's folder. The identities file is read here once,
 * so that its errors are start-up errors naming its own lines.
 */
import { errorMessage } from '../lib/errors.js';
import { parseBoolean, parseCount, parseSeconds, parseSize } from '../lib/grammar.js';
import { parseFingerprint, readCaFile, type UpstreamTls } from '../lib/tls-upstream.js';
import { parseConfigUrl } from '../lib/url.js';
import { parseConnectRule } from '../tunnel/allow.js';
import { parseForward } from '../tunnel/forward.js';
import { readIdentities } from '../tunnel/identities.js';
import {
  DEFAULT_GRACE_SECONDS, DEFAULT_MAX_SESSIONS, DEFAULT_WINDOW, defaultTiming, HEARTBEAT_BOUNDS_MS, newUpstream, TIMEOUT_BOUNDS_MS, WINDOW_BOUNDS, type Timing, type TunnelConfig, type TunnelServerConfig, type UpstreamConfig,
} from '../tunnel/options.js';
import { readSecretFile } from '../lib/secret.js';
import { ConfigError, pathFrom, SECTION_START, sectionOf, type Setting, type SettingOrigin } from './settings.js';

/** A tunnel server URL: ws:// or wss://, a path, a user part only for `websocksy forward`. */
export function tunnelUrl(value: string, credentials = false): URL {
  return parseConfigUrl(value, { schemes: ['ws:', 'wss:'], credentials, query: true });
}

/** The keys of [tunnel], for its errors and websocksy --help. */
export const TUNNEL_KEYS = ['path', 'identities', 'anonymous', 'grace', 'window', 'max-sessions', 'heartbeat', 'heartbeat-timeout'] as const;
/** The keys of [upstream NAME]. */
export const UPSTREAM_KEYS = ['url', 'name', 'token', 'token-file', 'anonymous', 'local', 'remote', 'accept', 'reconnect-min', 'reconnect-max', 'heartbeat', 'heartbeat-timeout', 'ca', 'fingerprint'] as const;

function timingKey(target: Timing, key: string, value: string): boolean {
  if (key === 'heartbeat') target.heartbeatMs = parseSeconds(value, HEARTBEAT_BOUNDS_MS.min / 1000, HEARTBEAT_BOUNDS_MS.max / 1000) * 1000;
  else if (key === 'heartbeat-timeout') target.timeoutMs = parseSeconds(value, TIMEOUT_BOUNDS_MS.min / 1000, TIMEOUT_BOUNDS_MS.max / 1000) * 1000;
  else return false;
  return true;
}

function applyServer(server: TunnelServerConfig, key: string, value: string, origin: SettingOrigin): void {
  if (timingKey(server, key, value)) return;
  if (key === 'path') {
    if (!value.trim().startsWith('/')) throw new Error(`"${value}" does not start with /`);
    server.path = value.trim();
  } else if (key === 'identities') {
    server.identitiesFile = pathFrom(origin, value.trim());
    readIdentities(server.identitiesFile);
  } else if (key === 'anonymous') {
    if (value.trim() !== 'loopback') throw new Error(`"${value}": the only value is loopback (name-only tunnel clients from this host, when there is no identities file)`);
    server.protectedMode = true;
  } else if (key === 'grace') server.graceSeconds = parseSeconds(value, 0, 86400);
  else if (key === 'window') server.window = parseSize(value, WINDOW_BOUNDS.min, WINDOW_BOUNDS.max);
  else if (key === 'max-sessions') server.maxSessions = parseCount(value, 1, 1000);
  else throw new Error(`unknown key (known: ${TUNNEL_KEYS.join(', ')})`);
}

export function applyUpstream(upstream: UpstreamConfig, key: string, value: string, origin: SettingOrigin): void {
  if (timingKey(upstream, key, value)) return;
  if (key === 'url') upstream.url = tunnelUrl(value).href;
  else if (key === 'name') upstream.name = value.trim();
  else if (key === 'token') upstream.token = value;
  else if (key === 'token-file') upstream.token = readSecretFile(pathFrom(origin, value.trim()));
  else if (key === 'anonymous') upstream.anonymous = parseBoolean(value);
  else if (key === 'local' || key === 'remote') upstream.forwards.push(parseForward(key, value));
  else if (key === 'accept') upstream.accept.push(...value.split(',').map((rule) => rule.trim()).filter((rule) => rule !== '').map(parseConnectRule));
  else if (key === 'reconnect-min') upstream.reconnectMinMs = parseSeconds(value, 0.01, 3600) * 1000;
  else if (key === 'reconnect-max') upstream.reconnectMaxMs = parseSeconds(value, 0.01, 86400) * 1000;
  else if (key === 'ca') upstream.tls = { ...upstream.tls, ca: readCaFile(pathFrom(origin, value.trim())) };
  else if (key === 'fingerprint') upstream.tls = { ...upstream.tls, fingerprint: parseFingerprint(value) };
  else throw new Error(`unknown key (known: ${UPSTREAM_KEYS.join(', ')})`);
}

/** `ca` and `fingerprint` verify a TLS server: on a plain URL they would protect nothing, silently. */
export function checkUpstreamTls(url: string, tls: UpstreamTls): string | null {
  if (tls.ca === null && tls.fingerprint === null) return null;
  const scheme = /^(\w+):/.exec(url)?.[1] ?? '';
  return scheme === 'wss' || scheme === 'https' ? null : `ca and fingerprint verify a wss:// or https:// server, and ${url} is ${scheme}://`;
}

/** Builds the tunnel configuration from the settings of the [tunnel] and [upstream …] sections. */
export function buildTunnelConfig(settings: readonly Setting[]): TunnelConfig {
  const config: TunnelConfig = { server: null, upstreams: [] };
  let serverOrigin: SettingOrigin | undefined;
  const upstreams = new Map<string, { config: UpstreamConfig; origin: SettingOrigin }>();
  for (const { scope, key, value, origin } of settings) {
    try {
      if (scope === 'tunnel') {
        serverOrigin ??= origin;
        config.server ??= { path: '/.tunnel', identitiesFile: '', protectedMode: false, graceSeconds: DEFAULT_GRACE_SECONDS, window: DEFAULT_WINDOW, maxSessions: DEFAULT_MAX_SESSIONS, ...defaultTiming };
        if (key !== SECTION_START) applyServer(config.server, key, value, origin);
      } else if (scope === 'upstream') {
        const label = sectionOf(origin).replace(/^upstream\s+/, '') || 'upstream';
        const entry = upstreams.get(label) ?? { config: newUpstream(label), origin };
        upstreams.set(label, entry);
        if (key !== SECTION_START) applyUpstream(entry.config, key, value, origin);
      }
    } catch (error) {
      throw new ConfigError(`${key}: ${errorMessage(error)}`, origin);
    }
  }
  const server = config.server;
  if (server !== null && (server.identitiesFile === '') === !server.protectedMode) {
    throw new ConfigError(
      server.protectedMode
        ? '[tunnel] has both identities and anonymous = loopback: with an identities file every tunnel authenticates; remove one'
        : '[tunnel] needs "identities = FILE": every tunnel must authenticate (or anonymous = loopback, for name-only clients from this host alone)',
      serverOrigin,
    );
  }
  for (const { config: upstream, origin } of upstreams.values()) {
    const missing = upstream.url === '' ? 'url' : upstream.name === '' ? 'name' : upstream.token === '' && !upstream.anonymous ? 'token or token-file (or anonymous = yes, for a server in protected mode on this host)' : null;
    if (upstream.anonymous && upstream.token !== '') throw new ConfigError(`[upstream ${upstream.label}] has a token and anonymous = yes: remove one`, origin);
    if (missing !== null) throw new ConfigError(`[upstream ${upstream.label}] needs ${missing}`, origin);
    if (upstream.reconnectMinMs > upstream.reconnectMaxMs) throw new ConfigError(`[upstream ${upstream.label}] reconnect-min exceeds reconnect-max`, origin);
    const tlsProblem = checkUpstreamTls(upstream.url, upstream.tls);
    if (tlsProblem !== null) throw new ConfigError(`[upstream ${upstream.label}]: ${tlsProblem}`, origin);
    config.upstreams.push(upstream);
  }
  return config;
}
