/*
 * The worker threads that check password hashes (hash-worker.ts), started on first use. The
 * checks waiting at once are bounded: past the bound a check is refused at once (the client
 * gets 503 and tries again), so a flood of guesses costs queue slots, not unbounded memory and
 * CPU. Workers are unref'd: they never keep the process alive on their own.
 */
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import { errorMessage } from '../lib/errors.js';
import { log } from '../lib/log.js';

/** Checks queued or running at once, over every worker. */
export const MAX_WAITING_CHECKS = 256;

interface Reply {
  readonly id: number;
  readonly ok?: boolean;
  readonly error?: string;
}

interface Waiting {
  resolve(ok: boolean): void;
  reject(error: Error): void;
}

class HashWorker {
  private readonly worker: Worker;
  readonly waiting = new Map<number, Waiting>();
  dead = false;

  constructor() {
    this.worker = new Worker(new URL('./hash-worker.js', import.meta.url));
    this.worker.on('message', (reply: Reply) => {
      const waiting = this.waiting.get(reply.id);
      this.waiting.delete(reply.id);
      if (reply.error !== undefined) waiting?.reject(new Error(reply.error));
      else waiting?.resolve(reply.ok === true);
    });
    const fail = (error: Error): void => {
      this.dead = true;
      log.error('password check worker failed', { error: errorMessage(error) });
      for (const waiting of this.waiting.values()) waiting.reject(error);
      this.waiting.clear();
    };
    this.worker.on('error', fail);
    this.worker.on('exit', (code) => {
      if (!this.dead) fail(new Error(`exited with code ${code}`));
    });
    // Last: adding a 'message' listener refs the worker again, and a ref'd worker held a stopped
    // server up for its whole shutdown grace after one password check.
    this.worker.unref();
  }

  check(id: number, password: string, hash: string): Promise<boolean> {
    return new Promise((resolve, reject) => {
      this.waiting.set(id, { resolve, reject });
      this.worker.postMessage({ id, password, hash });
    });
  }
}

/** What checks a password against a stored hash, off the event loop. */
export interface PasswordVerifier {
  /** True when another check would pass the bound. */
  readonly full: boolean;
  /** Whether `password` matches `hash`; rejects when the check cannot run. */
  verify(password: string, hash: string): Promise<boolean>;
}

export class HashPool implements PasswordVerifier {
  private workers: HashWorker[] = [];
  private lastId = 0;

  constructor(private readonly size = Math.max(1, Math.min(2, availableParallelism() - 1))) {}

  private get waiting(): number {
    return this.workers.reduce((sum, worker) => sum + worker.waiting.size, 0);
  }

  /** True when another check would pass the bound. */
  get full(): boolean {
    return this.waiting >= MAX_WAITING_CHECKS;
  }

  /** Whether `password` matches `hash`; rejects when the worker fails. */
  verify(password: string, hash: string): Promise<boolean> {
    this.workers = this.workers.filter((worker) => !worker.dead);
    while (this.workers.length < this.size) this.workers.push(new HashWorker());
    const worker = this.workers.reduce((least, one) => (one.waiting.size < least.waiting.size ? one : least));
    this.lastId = (this.lastId + 1) % Number.MAX_SAFE_INTEGER;
    return worker.check(this.lastId, password, hash);
  }
}

/** One pool for every basic section. */
export const hashPool = new HashPool();
