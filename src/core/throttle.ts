/*
 * Connections waiting for their rate limit's tokens, woken by one shared timer rather than a
 * timer per connection or per read. The timer runs only while some connection waits; each tick
 * asks every waiting one whether it can go on, and forgets those that can.
 */
import { performance } from 'node:perf_hooks';
import { processOwner, runGuarded, type Guarded } from '../lib/guard.js';

/** How often waiting connections are looked at: the shaping's time resolution. */
export const THROTTLE_TICK_MS = 20;

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

  add(connection: Throttled): void {
    this.waiting.add(connection);
    this.timer ??= setInterval(() => runGuarded(ticker, 'rate limit tick', () => this.tick()), THROTTLE_TICK_MS);
  }

  delete(connection: Throttled): void {
    this.waiting.delete(connection);
    if (this.waiting.size === 0) this.stop();
  }

  private tick(): void {
    const now = performance.now();
    for (const connection of this.waiting) {
      let done = true;
      runGuarded(connection, 'rate limit wake', () => {
        done = connection.wake(now);
      });
      if (done) this.waiting.delete(connection);
    }
    if (this.waiting.size === 0) this.stop();
  }

  private stop(): void {
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
  }
}

/** The process's one throttle: every listener's connections share its timer. */
export const throttle = new Throttle();
