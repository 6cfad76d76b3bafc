/*
 * The tunnel sections of the config file: [tunnel] (accept tunnels), [upstream NAME] (keep a
 * tunnel to another instance, with its port forwards) and [status] (the JSON status endpoint).
 * Every error names the file, line and key through ConfigError.
 */
import { ConfigError, type Setting } from '../core/config.js';
import { errorMessage } from '../core/errors.js';
import { parseConnectRule, type ConnectRule } from './allow.js';
import { parseForward, type Forward } from './forward.js';
import { readSecretFile } from './secret.js';

export interface Timing {
  heartbeatMs: number;
  timeoutMs: number;
}

export interface TunnelServerConfig extends Timing {
  path: string;
  identitiesFile: string;
  graceSeconds: number;
  window: number;
}

export interface UpstreamConfig extends Timing {
  /** The section's name, for logs and status. */
  readonly label: string;
  url: string;
  /** The identity this instance presents. */
  name: string;
  token: string;
  forwards: Forward[];
  /**
   * Destinations the far side may have this side dial (`accept = host:port,...`, the syntax of
   * an identity's connect=): HTTP routes on the server that reach through this tunnel. Empty:
   * the far side may open streams only to this side's remote forwards.
   */
  accept: ConnectRule[];
  reconnectMinMs: number;
  reconnectMaxMs: number;
}

export interface TunnelConfig {
  server: TunnelServerConfig | null;
  upstreams: UpstreamConfig[];
  statusPath: string | null;
}

export const defaultTiming: Readonly<Timing> = { heartbeatMs: 5000, timeoutMs: 15000 };
export const DEFAULT_WINDOW = 256 * 1024;
export const DEFAULT_GRACE_SECONDS = 60;
export const DEFAULT_RECONNECT = { minMs: 250, maxMs: 30_000 };

export function seconds(value: string, min: number, max: number): number {
  const text = value.trim();
  const n = /^\d+(\.\d+)?$/.test(text) ? Number(text) : NaN;
  if (!(n >= min && n <= max)) throw new Error(`"${value}" is not a number of seconds from ${min} to ${max}`);
  return n;
}

function windowSize(value: string): number {
  const match = /^(\d+)\s*([km]?)$/i.exec(value.trim());
  const n = match === null ? NaN : Number(match[1]) * ({ '': 1, k: 1024, m: 1024 * 1024 }[(match[2] ?? '').toLowerCase()] ?? NaN);
  if (!(n >= 16 * 1024 && n <= 64 * 1024 * 1024)) throw new Error(`"${value}" is not a window from 16k to 64m`);
  return n;
}

export function checkUrl(value: string): string {
  let url: URL;
  try {
    url = new URL(value.trim());
  } catch {
    throw new Error(`"${value}" is not a URL`);
  }
  if (url.protocol !== 'ws:' && url.protocol !== 'wss:') throw new Error(`"${value}" is not a ws:// or wss:// URL`);
  return url.href;
}

function timingKey(target: Timing, key: string, value: string): boolean {
  if (key === 'heartbeat') target.heartbeatMs = seconds(value, 0.05, 3600) * 1000;
  else if (key === 'heartbeat-timeout') target.timeoutMs = seconds(value, 0.1, 86400) * 1000;
  else return false;
  return true;
}

function applyServer(server: TunnelServerConfig, key: string, value: string): void {
  if (timingKey(server, key, value)) return;
  if (key === 'path') {
    if (!value.trim().startsWith('/')) throw new Error(`"${value}" does not start with /`);
    server.path = value.trim();
  } else if (key === 'identities') server.identitiesFile = value.trim();
  else if (key === 'grace') server.graceSeconds = seconds(value, 0, 86400);
  else if (key === 'window') server.window = windowSize(value);
  else throw new Error('unknown key (known: path, identities, grace, window, heartbeat, heartbeat-timeout)');
}

function applyUpstream(upstream: UpstreamConfig, key: string, value: string): void {
  if (timingKey(upstream, key, value)) return;
  if (key === 'url') upstream.url = checkUrl(value);
  else if (key === 'name') upstream.name = value.trim();
  else if (key === 'token') upstream.token = value;
  else if (key === 'token-file') upstream.token = readSecretFile(value.trim());
  else if (key === 'local' || key === 'remote') upstream.forwards.push(parseForward(key, value));
  else if (key === 'accept') upstream.accept.push(...value.split(',').map((rule) => rule.trim()).filter((rule) => rule !== '').map(parseConnectRule));
  else if (key === 'reconnect-min') upstream.reconnectMinMs = seconds(value, 0.01, 3600) * 1000;
  else if (key === 'reconnect-max') upstream.reconnectMaxMs = seconds(value, 0.01, 86400) * 1000;
  else throw new Error('unknown key (known: url, name, token, token-file, local, remote, accept, reconnect-min, reconnect-max, heartbeat, heartbeat-timeout)');
}

export function newUpstream(label: string): UpstreamConfig {
  return { label, url: '', name: '', token: '', forwards: [], accept: [], reconnectMinMs: DEFAULT_RECONNECT.minMs, reconnectMaxMs: DEFAULT_RECONNECT.maxMs, ...defaultTiming };
}

/** Builds the tunnel configuration from the settings of the [tunnel], [upstream …] and [status] sections. */
export function buildTunnelConfig(settings: readonly Setting[]): TunnelConfig {
  const config: TunnelConfig = { server: null, upstreams: [], statusPath: null };
  const upstreams = new Map<string, { config: UpstreamConfig; origin: Setting['origin'] }>();
  for (const { scope, key, value, origin } of settings) {
    try {
      if (scope === 'tunnel') {
        config.server ??= { path: '/.tunnel', identitiesFile: '', graceSeconds: DEFAULT_GRACE_SECONDS, window: DEFAULT_WINDOW, ...defaultTiming };
        applyServer(config.server, key, value);
      } else if (scope === 'status') {
        if (key !== 'path' || !value.trim().startsWith('/')) throw new Error('expected "path = /something"');
        config.statusPath = value.trim();
      } else if (scope === 'upstream') {
        const label = 'section' in origin ? origin.section.replace(/^upstream\s+/, '') : 'upstream';
        const entry = upstreams.get(label) ?? { config: newUpstream(label), origin };
        upstreams.set(label, entry);
        applyUpstream(entry.config, key, value);
      }
    } catch (error) {
      throw new ConfigError(`${key}: ${errorMessage(error)}`, origin);
    }
  }
  if (config.server !== null && config.server.identitiesFile === '') {
    throw new ConfigError('[tunnel] needs "identities = FILE": every tunnel must authenticate');
  }
  for (const { config: upstream, origin } of upstreams.values()) {
    const missing = upstream.url === '' ? 'url' : upstream.name === '' ? 'name' : upstream.token === '' ? 'token or token-file' : null;
    if (missing !== null) throw new ConfigError(`[upstream ${upstream.label}] needs ${missing}`, origin);
    if (upstream.reconnectMinMs > upstream.reconnectMaxMs) throw new ConfigError(`[upstream ${upstream.label}] reconnect-min exceeds reconnect-max`, origin);
    config.upstreams.push(upstream);
  }
  return config;
}
