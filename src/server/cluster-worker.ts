/*
 * A worker of a cluster (docs/cluster.md; the primary is cluster-primary.ts): a websocksy
 * server like any other, that binds the ports the primary chose, with the other workers, tells the primary once it
 * listens, answers metrics scrapes with the whole cluster's metrics, and stops when its primary
 * is gone (the IPC channel closes), as SIGTERM would stop it.
 */
import { errorMessage } from '../lib/errors.js';
import { processOwner, runGuarded } from '../lib/guard.js';
import { log } from '../lib/log.js';
import type { ServerMetrics } from '../metrics/server-metrics.js';
import { isPrimaryMessage, WORKER_ENV, WORKER_PORTS_ENV, type WorkerMessage } from './cluster-messages.js';
import { listenPortsOf, type ListenPlan } from './listen-plan.js';
import { Siblings } from '../cluster/siblings.js';
import { WorkerRegistry } from '../cluster/worker-registry.js';

const owner = processOwner('cluster worker');

/** How long a scrape waits for the primary's sum before it fails (the primary waits 2 s for the workers). */
const SCRAPE_WAIT_MS = 5_000;

class ClusterScrapeError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ClusterScrapeError';
  }
}

/** This process's number in its cluster, or null when it is no worker (it serves alone, or is a primary). */
export function workerIndex(): number | null {
  const value = process.env[WORKER_ENV];
  if (value === undefined || process.send === undefined) return null;
  const index = Number(value);
  return Number.isInteger(index) && index >= 1 ? index : null;
}

export class WorkerLink {
  /** Where this worker binds: the ports the primary chose, shared with the other workers. */
  readonly plan: ListenPlan;
  /** The other workers, where this one relays what they hold. */
  readonly siblings: Siblings;
  private readonly registry: WorkerRegistry;
  private metrics: ServerMetrics | null = null;
  private readonly scrapes = new Map<number, { readonly resolve: (text: string) => void; readonly reject: (error: Error) => void }>();
  private nextScrape = 1;

  constructor(readonly index: number) {
    this.plan = { ports: listenPortsOf(JSON.parse(process.env[WORKER_PORTS_ENV] ?? 'null')), shared: true };
    this.registry = new WorkerRegistry(index, (request) => this.send(request));
    this.siblings = new Siblings(index, this.registry);
    process.on('message', (message: unknown) => runGuarded(owner, 'message from the primary', () => this.onMessage(message)));
    // The channel to the primary must not keep a stopped worker up: it exits as a server of its own does.
    process.channel?.unref();
  }

  /** The server's metrics answer scrapes with the cluster's sum, and give the primary their own. */
  serveMetrics(metrics: ServerMetrics): void {
    this.metrics = metrics;
    metrics.exposeFrom(() => this.clusterMetrics());
  }

  /** `link`: the port of this worker's own link (server.ts). */
  listening(link: number): void {
    this.send({ type: 'listening', link });
  }

  /** Calls `stop` once the primary is gone. */
  onPrimaryGone(stop: () => void): void {
    process.once('disconnect', () => runGuarded(owner, 'primary gone', stop));
  }

  private clusterMetrics(): Promise<string> {
    const id = this.nextScrape++;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.scrapes.delete(id);
        reject(new ClusterScrapeError(`the primary did not answer within ${SCRAPE_WAIT_MS / 1000} s`));
      }, SCRAPE_WAIT_MS);
      this.scrapes.set(id, {
        resolve: (text) => {
          clearTimeout(timer);
          resolve(text);
        },
        reject: (error) => {
          clearTimeout(timer);
          reject(error);
        },
      });
      this.send({ type: 'metrics-request', id });
    });
  }

  private onMessage(message: unknown): void {
    if (!isPrimaryMessage(message)) return;
    if (message.type === 'siblings') {
      this.siblings.setSecret(message.secret);
      this.registry.update(new Map(message.links), new Map(message.owners));
      return;
    }
    if (message.type === 'owner') {
      this.registry.claimAnswered(message.id, message.worker);
      return;
    }
    if (message.type === 'metrics-collect') {
      const { metrics } = this;
      // A worker without metrics is never asked: the configuration is every worker's.
      if (metrics === null) return;
      metrics.snapshot().then(
        (snapshot) => this.send({ type: 'metrics-snapshot', id: message.id, snapshot }),
        // The primary leaves this worker out of the sum once its wait is over.
        (error: unknown) => log.warn('metrics snapshot failed', { error: errorMessage(error) }),
      );
      return;
    }
    const scrape = this.scrapes.get(message.id);
    if (scrape === undefined) return;
    this.scrapes.delete(message.id);
    if (message.text !== undefined) scrape.resolve(message.text);
    else scrape.reject(new ClusterScrapeError(message.error ?? 'the primary sent no metrics'));
  }

  private send(message: WorkerMessage): void {
    if (process.connected) process.send?.(message);
  }
}
