/*
 * The status page's "last minutes": one timer samples, every HISTORY_INTERVAL_MS, counts the
 * server keeps anyway (open WebSocket connections: bridges, and websocket and module routes'
 * sockets; tunnel sessions and streams; resumable sessions) and the bytes those connections
 * carried each way (a BridgeTally: the open ones' own fields plus the closed ones' totals, so
 * nothing runs per frame), turned into rates. The last HISTORY_SAMPLES are kept.
 * Made only when [status] is configured; the timer is unref'd (it never holds the process up)
 * and stopped at shutdown.
 */
import type { BridgeObserver, BridgeObservers } from '../core/bridge-observer.js';
import { BridgeTally } from '../core/bridge-tally.js';
import { processOwner, runGuarded } from '../lib/guard.js';
import type { SessionStore } from '../session/session-store.js';
import type { HistoryJson } from '../status-page/history-json.js';
import type { Tunnels } from '../tunnel/runtime.js';
import { tunnelCounts } from './tunnel-sessions.js';

export const HISTORY_INTERVAL_MS = 2000;
/** Ten minutes at one sample every two seconds. */
export const HISTORY_SAMPLES = 300;

type Series = Exclude<keyof HistoryJson, 'intervalSeconds'>;
type Sample = Readonly<Record<Series, number>>;

const SERIES: readonly Series[] = ['time', 'connections', 'tunnelSessions', 'tunnelStreams', 'sessions', 'bytesToClientPerSecond', 'bytesToPeerPerSecond'];

const sampler = processOwner('status history');

export class StatusHistory {
  private readonly tally = new BridgeTally();
  private readonly everyBridge: BridgeObserver = this.tally.observer();
  /** Oldest first; at most HISTORY_SAMPLES. */
  private readonly samples: Sample[] = [];
  private last: { readonly at: number; readonly toClient: number; readonly toPeer: number } | null = null;
  private timer: NodeJS.Timeout | null = null;

  constructor(
    private readonly parts: { readonly tunnels: Tunnels; readonly sessions: SessionStore },
    private readonly intervalMs = HISTORY_INTERVAL_MS,
  ) {}

  /** For the bridge endpoints, beside the metrics' (core/bridge-observer.ts observedByAll). */
  readonly observers: BridgeObservers = { forEndpoint: () => this.everyBridge };

  start(): void {
    if (this.timer !== null) return;
    this.sample();
    this.timer = setInterval(() => runGuarded(sampler, 'status history', () => this.sample()), this.intervalMs);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
  }

  private sample(): void {
    const now = Date.now();
    const { bytesToClient, bytesToPeer } = this.tally.counts();
    const seconds = this.last === null ? 0 : (now - this.last.at) / 1000;
    // A total can go down a little (a held message dropped at a bridge's close is taken back): no negative rates.
    const rate = (total: number, before: number | undefined): number => (seconds > 0 && before !== undefined ? Math.max(0, Math.round((total - before) / seconds)) : 0);
    const tunnels = tunnelCounts(this.parts.tunnels);
    const { attached, detached } = this.parts.sessions.counts();
    this.samples.push({
      time: Math.round(now / 1000),
      connections: this.tally.open.size,
      tunnelSessions: tunnels.sessions,
      tunnelStreams: tunnels.streams,
      sessions: attached + detached,
      bytesToClientPerSecond: rate(bytesToClient, this.last?.toClient),
      bytesToPeerPerSecond: rate(bytesToPeer, this.last?.toPeer),
    });
    if (this.samples.length > HISTORY_SAMPLES) this.samples.shift();
    this.last = { at: now, toClient: bytesToClient, toPeer: bytesToPeer };
  }

  json(): HistoryJson {
    const columns = Object.fromEntries(SERIES.map((name) => [name, this.samples.map((sample) => sample[name])])) as Record<Series, number[]>;
    return { intervalSeconds: this.intervalMs / 1000, ...columns };
  }
}
