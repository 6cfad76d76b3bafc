/*
 * One server's Prometheus metrics: a registry of its own (never prom-client's global one, so
 * that servers in one process, as in the tests, never mix their counts), the process metrics
 * prom-client collects under their standard names (process_*, nodejs_*: the names dashboards
 * and alerts already use, so no websocksy_ prefix), and websocksy's own, all named websocksy_*.
 * Built before the pieces it watches, whose observers it hands out; `watch` then adds the
 * metrics read from them at scrape time. docs/operations.md lists every metric.
 */
import { collectDefaultMetrics, Registry, type MetricObjectWithValues, type MetricValue } from 'prom-client';
import type { Admission } from '../core/admission.js';
import type { MetricsPage } from '../front/control-page.js';
import type { SessionStore } from '../session/session-store.js';
import type { Tunnels } from '../tunnel/runtime.js';
import { BridgeMetrics } from './bridge-metrics.js';
import { FrontMetrics } from './front-metrics.js';
import { watchLimits, watchSessions } from './state-metrics.js';
import { watchTunnels } from './tunnel-metrics.js';

/** One process's metrics as data, which prom-client's AggregatorRegistry sums over a cluster's workers. */
export type MetricsSnapshot = MetricObjectWithValues<MetricValue<string>>[];

/** What the metrics read when scraped. */
export interface WatchedParts {
  readonly sessions: SessionStore;
  readonly tunnels: Tunnels;
  readonly admission: Admission;
}

export class ServerMetrics implements MetricsPage {
  private readonly registry = new Registry();
  private gather: (() => Promise<string>) | null = null;
  /** For the bridge endpoints (core/bridge-opener.ts `observers`). */
  readonly bridges: BridgeMetrics;
  /** For the fronts (front/app.ts FrontOptions `observer`). */
  readonly front: FrontMetrics;

  constructor(readonly path: string) {
    collectDefaultMetrics({ register: this.registry });
    this.bridges = new BridgeMetrics(this.registry);
    this.front = new FrontMetrics(this.registry);
  }

  watch(parts: WatchedParts): void {
    watchSessions(this.registry, parts.sessions);
    watchLimits(this.registry, parts.admission);
    watchTunnels(this.registry, parts.tunnels);
  }

  get contentType(): string {
    return this.registry.contentType;
  }

  /** This process's metrics, for a cluster's primary to sum (server/cluster-worker.ts). */
  snapshot(): Promise<MetricsSnapshot> {
    return this.registry.getMetricsAsJSON();
  }

  /** A cluster's worker answers scrapes with what `gather` returns: every worker's metrics, summed. */
  exposeFrom(gather: () => Promise<string>): void {
    this.gather = gather;
  }

  exposition(): Promise<string> {
    return this.gather?.() ?? this.registry.metrics();
  }
}
