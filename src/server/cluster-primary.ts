/*
 * The primary of a cluster (`[core] workers = N`, docs/cluster.md). It serves nothing itself: it
 * starts N workers — websocksy again, each a process of its own serving the same ports through
 * SO_REUSEPORT, so the kernel spreads new connections among them — and keeps them:
 *   - every worker binds the ports the primary chose (the configuration's, and for a port 0 one
 *     the system had free: uSockets shares only a port named at bind time);
 *   - SIGTERM, SIGINT and SIGHUP go to every worker, which drains, stops or reloads as a server
 *     of its own does; the primary exits when the last worker has;
 *   - a worker that dies is started again, after a backoff that grows while it keeps dying;
 *   - a metrics scrape, which the kernel hands to one worker, is answered with every worker's
 *     metrics summed (prom-client's aggregation, per metric as it declares).
 * Workers run in sessions of their own, so a terminal's Ctrl-C reaches the primary only and each
 * worker hears one SIGINT, not two; a worker whose primary is gone stops by itself.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { AggregatorRegistry } from 'prom-client';
import { errorMessage } from '../lib/errors.js';
import { processOwner, runGuarded } from '../lib/guard.js';
import { log } from '../lib/log.js';
import { notifyReady, notifyReloading, notifyStopping } from '../lib/systemd-notify.js';
import type { ListenPorts } from './listen-plan.js';
import { isWorkerMessage, type MetricsSnapshot, type PrimaryMessage, WORKER_ENV, WORKER_PORTS_ENV } from './cluster-messages.js';

/** A worker that lived this long before dying is started again at once: its backoff starts over. */
const HEALTHY_MS = 60_000;
const MAX_BACKOFF_MS = 30_000;
/** How long a scrape waits for the workers' metrics: a worker that does not answer is left out. */
const METRICS_WAIT_MS = 2_000;

const owner = processOwner('cluster primary');

interface Worker {
  readonly index: number;
  child: ChildProcess;
  startedAt: number;
  /** Consecutive deaths within HEALTHY_MS of their start. */
  failures: number;
  listening: boolean;
  /** The loopback port where its siblings relay to it, once it listens. */
  link: number | null;
  restart: NodeJS.Timeout | null;
}

interface Scrape {
  readonly waiting: Set<number>;
  readonly snapshots: MetricsSnapshot[];
  readonly done: () => void;
}

export class ClusterPrimary {
  private readonly workers: Worker[] = [];
  private stopping = false;
  private exited: (() => void) | null = null;
  private readonly scrapes = new Map<number, Scrape>();
  /** Workers of the start whose listening is awaited. */
  private readonly starting = new Map<Worker, { readonly resolve: () => void; readonly reject: (error: Error) => void }>();
  private nextScrape = 1;
  /** Proves a relayed request comes from a worker (cluster/siblings.ts); workers hear it over IPC, never in their environment, which what they run would inherit. */
  private readonly secret = randomBytes(32).toString('base64url');
  /**
   * Which worker owns each tunnel identity (docs/cluster.md, "Tunnel identities"): the first to
   * claim it, until it releases it or dies. One map, one process: two workers cannot both own one.
   */
  private readonly owners = new Map<string, number>();

  /** `entry`: the websocksy script; `argv`: its command line, which each worker runs; `ports`: where every worker binds. */
  constructor(
    private readonly size: number,
    private readonly ports: ListenPorts,
    private readonly entry: string,
    private readonly argv: readonly string[],
  ) {}

  /** Starts every worker; rejects (the started ones stopped) when one cannot start. */
  async start(): Promise<void> {
    try {
      await Promise.all(Array.from({ length: this.size }, (_, i) => this.listeningOf(this.spawn(i + 1))));
      log.info('cluster listening', { workers: this.size, port: this.ports.main });
      notifyReady(this.statusLine);
    } catch (error) {
      this.signal('SIGINT');
      await this.whenExited();
      throw error;
    }
  }

  private get statusLine(): string {
    return `${this.size} workers listening on port ${this.ports.main}`;
  }

  /** Sends `signal` to every worker; SIGTERM and SIGINT also mean the cluster stops. */
  signal(signal: NodeJS.Signals): void {
    if (signal === 'SIGHUP') notifyReloading();
    else if (!this.stopping) {
      this.stopping = true;
      notifyStopping();
    }
    for (const worker of this.workers) {
      // A worker waiting to be started again is not, once the cluster stops; a reload leaves it waiting.
      if (this.stopping && worker.restart !== null) {
        clearTimeout(worker.restart);
        worker.restart = null;
      }
      if (worker.child.exitCode === null && worker.child.signalCode === null) worker.child.kill(signal);
    }
    // Each worker logs its own reload's outcome; systemd hears the cluster is ready again at once.
    if (signal === 'SIGHUP') notifyReady(this.statusLine);
    this.checkExited();
  }

  /** Resolves once every worker has exited after a stop. */
  whenExited(): Promise<void> {
    return new Promise((resolve) => {
      this.exited = resolve;
      this.checkExited();
    });
  }

  /** Resolves once `worker` listens, or rejects when it exits first. */
  private listeningOf(worker: Worker): Promise<void> {
    return new Promise((resolve, reject) => this.starting.set(worker, { resolve, reject }));
  }

  private spawn(index: number): Worker {
    const worker: Worker = { index, child: this.fork(index), startedAt: Date.now(), failures: 0, listening: false, link: null, restart: null };
    this.workers[index - 1] = worker;
    this.watch(worker);
    return worker;
  }

  private fork(index: number): ChildProcess {
    const env: NodeJS.ProcessEnv = { ...process.env, [WORKER_ENV]: String(index) };
    // systemd hears the primary only: a worker's READY=1 would be taken for the service's.
    delete env['NOTIFY_SOCKET'];
    env[WORKER_PORTS_ENV] = JSON.stringify(this.ports);
    const child = fork(this.entry, [...this.argv], { env, detached: true, stdio: ['ignore', 'inherit', 'inherit', 'ipc'], execArgv: process.execArgv });
    log.info('worker started', { worker: index, pid: child.pid });
    // Known before it listens: a sibling may relay to it as soon as it hears its link.
    if (child.connected) child.send(this.siblingsMessage());
    return child;
  }

  private watch(worker: Worker): void {
    const { child } = worker;
    child.on('message', (message: unknown) => runGuarded(owner, `message from worker ${worker.index}`, () => this.onMessage(worker, message)));
    child.once('exit', (code, signal) => runGuarded(owner, `worker ${worker.index} exit`, () => this.onExit(worker, code, signal)));
    child.on('error', (error) => log.error('worker process error', { worker: worker.index, error: errorMessage(error) }));
  }

  private onMessage(worker: Worker, message: unknown): void {
    if (!isWorkerMessage(message)) {
      log.warn('worker sent an unknown message', { worker: worker.index });
      return;
    }
    if (message.type === 'listening') {
      worker.listening = true;
      worker.link = message.link;
      this.tellSiblings();
      this.starting.get(worker)?.resolve();
      this.starting.delete(worker);
    } else if (message.type === 'metrics-request') this.scrape(worker, message.id);
    else if (message.type === 'metrics-snapshot') this.collected(worker, message.id, message.snapshot);
    else if (message.type === 'claim') this.claim(worker, message.id, message.identity);
    else if (this.owners.get(message.identity) === worker.index) {
      this.owners.delete(message.identity);
      log.info('identity released', { identity: message.identity, worker: worker.index });
      this.tellSiblings();
    }
  }

  /** `worker` would own `identity`: it does unless a live worker already does. */
  private claim(worker: Worker, id: number, identity: string): void {
    const owner = this.owners.get(identity);
    if (owner !== undefined) {
      this.send(worker, { type: 'owner', id, worker: owner });
      return;
    }
    this.owners.set(identity, worker.index);
    log.info('identity owned', { identity, worker: worker.index });
    // Everyone hears of the owner before the claimant goes on: the claimant's first request may be relayed by a sibling.
    this.tellSiblings();
    this.send(worker, { type: 'owner', id, worker: worker.index });
  }

  private siblingsMessage(): PrimaryMessage {
    const links = this.workers.flatMap((worker): Array<[number, number]> => (worker.link === null ? [] : [[worker.index, worker.link]]));
    return { type: 'siblings', secret: this.secret, links, owners: [...this.owners] };
  }

  /** Every worker hears where the others' links are now. */
  private tellSiblings(): void {
    const message = this.siblingsMessage();
    for (const worker of this.workers) this.send(worker, message);
  }

  private onExit(worker: Worker, code: number | null, signal: NodeJS.Signals | null): void {
    // Its identities' sessions died with it: their clients reconnect, and another worker claims them.
    let changed = worker.link !== null;
    for (const [identity, owner] of this.owners) {
      if (owner !== worker.index) continue;
      this.owners.delete(identity);
      changed = true;
    }
    worker.link = null;
    if (changed) this.tellSiblings();
    for (const scrape of this.scrapes.values()) if (scrape.waiting.delete(worker.index) && scrape.waiting.size === 0) scrape.done();
    const waiter = this.starting.get(worker);
    if (waiter !== undefined) {
      this.starting.delete(worker);
      waiter.reject(new Error(`worker ${worker.index} could not start (${signal ?? `exit ${String(code)}`}): its lines above say why`));
    }
    if (this.stopping || waiter !== undefined) {
      this.checkExited();
      return;
    }
    worker.failures = Date.now() - worker.startedAt < HEALTHY_MS ? worker.failures + 1 : 0;
    const delay = worker.failures === 0 ? 0 : Math.min(MAX_BACKOFF_MS, 1000 * 2 ** (worker.failures - 1));
    log.error('worker died: starting another', { worker: worker.index, exit: code ?? undefined, signal: signal ?? undefined, in_ms: delay });
    worker.restart = setTimeout(() => runGuarded(owner, `worker ${worker.index} restart`, () => this.restart(worker)), delay);
  }

  private restart(worker: Worker): void {
    worker.restart = null;
    if (this.stopping) return;
    worker.child = this.fork(worker.index);
    worker.startedAt = Date.now();
    worker.listening = false;
    worker.link = null;
    this.watch(worker);
  }

  private checkExited(): void {
    if (!this.stopping || this.exited === null) return;
    const running = this.workers.some((worker) => worker.child.exitCode === null && worker.child.signalCode === null);
    if (!running) this.exited();
  }

  /** A worker asks for the cluster's metrics: every listening worker is asked for its own. */
  private scrape(asker: Worker, id: number): void {
    const scrapeId = this.nextScrape++;
    const live = this.workers.filter((worker) => worker.listening && worker.child.connected);
    const scrape: Scrape = {
      waiting: new Set(live.map((worker) => worker.index)),
      snapshots: [],
      done: () => {
        clearTimeout(timer);
        this.scrapes.delete(scrapeId);
        if (scrape.waiting.size > 0) log.warn('metrics scrape: workers did not answer in time', { workers: [...scrape.waiting].join(',') });
        void this.answer(asker, id, scrape.snapshots);
      },
    };
    const timer = setTimeout(() => runGuarded(owner, 'metrics scrape', scrape.done), METRICS_WAIT_MS);
    this.scrapes.set(scrapeId, scrape);
    for (const worker of live) this.send(worker, { type: 'metrics-collect', id: scrapeId });
  }

  private collected(worker: Worker, id: number, snapshot: MetricsSnapshot): void {
    const scrape = this.scrapes.get(id);
    if (scrape === undefined || !scrape.waiting.delete(worker.index)) return;
    scrape.snapshots.push(snapshot);
    if (scrape.waiting.size === 0) scrape.done();
  }

  private async answer(asker: Worker, id: number, snapshots: MetricsSnapshot[]): Promise<void> {
    try {
      const text = await AggregatorRegistry.aggregate(snapshots).metrics();
      this.send(asker, { type: 'metrics-result', id, text });
    } catch (error) {
      this.send(asker, { type: 'metrics-result', id, error: errorMessage(error) });
    }
  }

  private send(worker: Worker, message: PrimaryMessage): void {
    if (worker.child.connected) worker.child.send(message);
  }
}
