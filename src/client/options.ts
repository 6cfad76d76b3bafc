/*
 * The options of a ResumableSocket, their defaults, and the platform pieces they fall back to
 * (the global WebSocket and fetch of a browser or of Node 22+).
 */
import type { FetchLike } from './fetch-like.js';
import type { WebSocketConstructor } from './websocket-like.js';

export type TransportChoice = 'auto' | 'websocket' | 'http';

export interface ResumableSocketOptions {
  /** Application subprotocols, offered after the session's own; the one chosen is `protocol`. */
  readonly protocols?: string | readonly string[];
  /** The WebSocket class; Node 20 has none of its own, so pass `ws`'s there. */
  readonly WebSocket?: WebSocketConstructor;
  /** Where to resume when a proxy puts the session path elsewhere (default: the WELCOME's path on the URL's host). */
  readonly resumeUrl?: string;
  /** The fetch for the HTTP transport (default: the global one). */
  readonly fetch?: FetchLike;
  /** Reconnect delays: full jitter under min(maxDelayMs, minDelayMs × 2^attempt). */
  readonly minDelayMs?: number;
  readonly maxDelayMs?: number;
  /** Failed attempts in a row after which the socket gives up (default: no limit but time). */
  readonly maxRetries?: number;
  /** How long opening may take, all attempts together, before the socket gives up (ms). */
  readonly timeoutMs?: number;
  /** How long close() may take to end the session (resumes included) before the socket gives up (ms). */
  readonly closeTimeoutMs?: number;
  /** 'auto': WebSocket, or HTTP long-poll when the upgrade fails, chosen again at every resume. */
  readonly transport?: TransportChoice;
}

export interface ResolvedOptions {
  readonly protocols: readonly string[];
  readonly WebSocket: WebSocketConstructor | undefined;
  readonly resumeUrl: string | undefined;
  readonly fetch: FetchLike | undefined;
  readonly minDelayMs: number;
  readonly maxDelayMs: number;
  readonly maxRetries: number;
  readonly timeoutMs: number;
  readonly closeTimeoutMs: number;
  /** The transports to try, in order, at every attempt. */
  readonly transports: readonly ('websocket' | 'http')[];
}

const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;

function positive(value: number | undefined, fallback: number, name: string): number {
  if (value === undefined) return fallback;
  if (!(value >= 0)) throw new RangeError(`${name} must be a number ≥ 0, not ${value}`);
  return value;
}

export function resolveOptions(options: ResumableSocketOptions): ResolvedOptions {
  const given = options.protocols;
  const protocols = given === undefined ? [] : typeof given === 'string' ? [given] : [...given];
  for (const protocol of protocols) if (!TOKEN.test(protocol)) throw new SyntaxError(`not a subprotocol name: ${JSON.stringify(protocol)}`);
  if (new Set(protocols).size !== protocols.length) throw new SyntaxError('a subprotocol is offered twice');

  const platform = globalThis as { WebSocket?: WebSocketConstructor; fetch?: FetchLike };
  const WebSocket = options.WebSocket ?? platform.WebSocket;
  const fetch = options.fetch ?? (platform.fetch === undefined ? undefined : platform.fetch.bind(globalThis));
  const choice = options.transport ?? 'auto';
  const transports = (['websocket', 'http'] as const).filter((kind) => (choice === 'auto' || choice === kind) && (kind === 'websocket' ? WebSocket !== undefined : fetch !== undefined));
  if (transports.length === 0) throw new TypeError(choice === 'http' ? 'no fetch: pass options.fetch' : 'no WebSocket class: pass options.WebSocket (in Node 20, the `ws` package\'s)');

  const minDelayMs = positive(options.minDelayMs, 250, 'minDelayMs');
  return {
    protocols,
    WebSocket,
    resumeUrl: options.resumeUrl,
    fetch,
    minDelayMs,
    maxDelayMs: Math.max(minDelayMs, positive(options.maxDelayMs, 10_000, 'maxDelayMs')),
    maxRetries: positive(options.maxRetries, Infinity, 'maxRetries'),
    timeoutMs: positive(options.timeoutMs, 30_000, 'timeoutMs'),
    closeTimeoutMs: positive(options.closeTimeoutMs, 30_000, 'closeTimeoutMs'),
    transports,
  };
}
