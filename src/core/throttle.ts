/*
 * The rate limit's clock and its waiting room. Reading a clock costs about as much as the rest
 * of a small message's path, so the data path reads `rateClock.now`, a time kept current by one
 * shared timer (every THROTTLE_TICK_MS, only in a process with a rate limit set). The same tick
 * wakes the connections waiting for tokens: no timer per connection or per read.
 */
import { performance } from 'node:perf_hooks';
import { processOwner, runGuarded, type Guarded } from '../lib/guard.js';

/** The shaping's time resolution. */
export const THROTTLE_TICK_MS = 20;

/** Milliseconds (performance.now()), as of the last tick. */
export const rateClock = { now: performance.now() };

export interface Throttled extends Guarded {
  /** Goes on if the tokens allow; true when it no longer waits. */
  wake(now: number): boolean;
}

const ticker = processOwner('rate limit');

class Throttle {
  private readonly waiting = new Set<Throttled>();
  private timer: NodeJS.Timeout | null = null;

  get size(): number {
    return this.waiting.size;
  }

  /** Starts the clock (idempotent); it does not keep the process alive. */
  start(): void {
    if (this.timer !== null) return;
    rateClock.now = performance.now();
    this.timer = setInterval(() => runGuarded(ticker, 'rate limit tick', () => this.tick()), THROTTLE_TICK_MS);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
  }

  add(connection: Throttled): void {
    this.waiting.add(connection);
    this.start();
  }

  delete(connection: Throttled): void {
    this.waiting.delete(connection);
  }

  private tick(): void {
    const now = performance.now();
    rateClock.now = now;
    for (const connection of this.waiting) {
      let done = true;
      runGuarded(connection, 'rate limit wake', () => {
        done = connection.wake(now);
      });
      if (done) this.waiting.delete(connection);
    }
  }
}

/** The process's one throttle: every listener's connections share its clock and tick. */
export const throttle = new Throttle();
