/*
 * What the front reports: refused WebSocket handshakes by reason and status, and the plain requests of
 * HTTP routes by route and status, with the time to their status line. That time, not the
 * time to the body's end, so that a long download or an event stream does not read as a slow
 * route. A route is named by its configured prefix, never by the path a client asked for.
 */
import { Counter, Histogram, type Registry } from 'prom-client';
import type { Refusal } from '../core/refusal.js';
import type { AnswerObserver } from '../core/request.js';
import type { FrontObserver } from '../front/front-observer.js';
import { childFor, statusLabel } from './labels.js';

/** From a static file out of the page cache to a slow upstream near the route's timeout. */
const DURATION_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

/** One route's children, made at its first request. */
interface RouteInstruments {
  readonly duration: Histogram.Internal<string>;
  readonly byStatus: Map<string, Counter.Internal>;
}

export class FrontMetrics implements FrontObserver {
  private readonly refusals: Counter;
  /** By reason and status, both from fixed sets: the reason is the server's name, never a client's. */
  private readonly refusalsByCause = new Map<string, Counter.Internal>();
  private readonly requests: Counter;
  private readonly duration: Histogram;
  private readonly routes = new Map<string, RouteInstruments>();

  constructor(registry: Registry) {
    const registers = [registry];
    this.refusals = new Counter({ name: 'websocksy_refusals_total', help: 'WebSocket handshakes refused, by reason and the HTTP status they were answered with', labelNames: ['reason', 'status'], registers });
    this.requests = new Counter({ name: 'websocksy_http_requests_total', help: 'Plain HTTP requests of routes answered, by status', labelNames: ['route', 'status'], registers });
    this.duration = new Histogram({
      name: 'websocksy_http_request_duration_seconds', help: 'Time from a route request\'s arrival to its status line', labelNames: ['route'], buckets: DURATION_BUCKETS, registers,
    });
  }

  refused(refusal: Refusal): void {
    const status = statusLabel(refusal.status);
    childFor(this.refusalsByCause, `${refusal.reason} ${status}`, () => this.refusals.labels(refusal.reason, status)).inc();
  }

  routeRequest(prefix: string): AnswerObserver {
    const started = performance.now();
    const route = childFor(this.routes, prefix, () => ({ duration: this.duration.labels(prefix), byStatus: new Map<string, Counter.Internal>() }));
    return {
      answered: (status) => {
        route.duration.observe((performance.now() - started) / 1000);
        childFor(route.byStatus, statusLabel(status), (value) => this.requests.labels(prefix, value)).inc();
      },
    };
  }
}
