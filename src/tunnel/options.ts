/*
 * The tunnel roles' settings, as src/config/tunnels.ts reads them from [tunnel] and
 * [upstream NAME], and `websocksy forward` from its command line.
 */
import { DEFAULT_UPSTREAM_TLS, type UpstreamTls } from '../lib/tls-upstream.js';
import type { ConnectRule } from './allow.js';
import type { Forward } from './forward.js';

export interface Timing {
  heartbeatMs: number;
  timeoutMs: number;
}

export interface TunnelServerConfig extends Timing {
  path: string;
  /** '' in protected mode. */
  identitiesFile: string;
  /** `anonymous = loopback`: no identities file; name-only clients from this host alone (protected-mode.ts). */
  protectedMode: boolean;
  graceSeconds: number;
  window: number;
  /** Sessions one identity may hold at once (attached or waiting out their grace period). */
  maxSessions: number;
}

export interface UpstreamConfig extends Timing {
  /** The section's name, for logs and status. */
  readonly label: string;
  url: string;
  /** The identity this instance presents. */
  name: string;
  /** '' when `anonymous`. */
  token: string;
  /** Presents the name alone, for a server in protected mode (protected-mode.ts). */
  anonymous: boolean;
  forwards: Forward[];
  /**
   * Destinations the far side may have this side dial (`accept = host:port,...`, the syntax of
   * an identity's connect=): HTTP routes on the server that reach through this tunnel. Empty:
   * the far side may open streams only to this side's remote forwards.
   */
  accept: ConnectRule[];
  reconnectMinMs: number;
  reconnectMaxMs: number;
  /** How a wss:// URL's server is verified (`ca`, `fingerprint`). */
  tls: UpstreamTls;
}

export interface TunnelConfig {
  server: TunnelServerConfig | null;
  upstreams: UpstreamConfig[];
}

export const defaultTiming: Readonly<Timing> = { heartbeatMs: 5000, timeoutMs: 15000 };
export const DEFAULT_WINDOW = 256 * 1024;
export const DEFAULT_GRACE_SECONDS = 60;
export const DEFAULT_MAX_SESSIONS = 4;
export const DEFAULT_RECONNECT = { minMs: 250, maxMs: 30_000 };

export function newUpstream(label: string): UpstreamConfig {
  return { label, url: '', name: '', token: '', anonymous: false, forwards: [], accept: [], reconnectMinMs: DEFAULT_RECONNECT.minMs, reconnectMaxMs: DEFAULT_RECONNECT.maxMs, tls: DEFAULT_UPSTREAM_TLS, ...defaultTiming };
}

/**
 * What a server may announce, and so what a client takes from a welcome: the [tunnel] keys'
 * ranges. A client that trusted any number would ping in a busy loop (heartbeat 0) or keep a
 * local stream's every byte in its replay list (a window of terabytes).
 */
export const WINDOW_BOUNDS = { min: 16 * 1024, max: 64 * 1024 * 1024 } as const;
export const HEARTBEAT_BOUNDS_MS = { min: 50, max: 3600 * 1000 } as const;
export const TIMEOUT_BOUNDS_MS = { min: 100, max: 86_400 * 1000 } as const;
