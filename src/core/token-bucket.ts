/*
 * A token bucket in bytes: `rate` bytes per second flow in, up to `burst`. Taking is allowed
 * into debt: a read or a message is never split, so one that finds tokens left is passed on
 * whole and the bucket goes negative; the one after it waits until the debt is paid. Over any
 * stretch of time, what passes is at most burst + rate × time (plus the last item's size).
 * Refilling is computed from the time since the last take, so a bucket costs nothing while
 * nobody takes from it, and no timer.
 */
import { performance } from 'node:perf_hooks';

/** At least one peer read (core/send-policy.ts LARGEST_PEER_READ) fits in a burst. */
const MIN_BURST = 64 * 1024;
/** A burst is this many seconds of the rate. */
const BURST_SECONDS = 0.25;

export function burstFor(rate: number): number {
  return Math.max(MIN_BURST, Math.round(rate * BURST_SECONDS));
}

export class TokenBucket {
  private tokens: number;
  private last = performance.now();

  constructor(
    readonly rate: number,
    readonly burst = burstFor(rate),
  ) {
    this.tokens = burst;
  }

  /** Tokens now (negative: debt), after refilling. */
  available(now = performance.now()): number {
    const refilled = this.tokens + ((now - this.last) * this.rate) / 1000;
    this.tokens = refilled > this.burst ? this.burst : refilled;
    this.last = now;
    return this.tokens;
  }

  /** Takes `bytes`, into debt if need be. */
  take(bytes: number, now = performance.now()): void {
    this.available(now);
    this.tokens -= bytes;
  }
}

/** One direction of a connection: its own bucket and its identity's shared one, either optional. */
export class RateGate {
  constructor(
    private readonly own: TokenBucket | null,
    public shared: TokenBucket | null,
  ) {}

  get limited(): boolean {
    return this.own !== null || this.shared !== null;
  }

  /** True when both buckets are out of debt: the next item may pass. */
  open(now = performance.now()): boolean {
    return (this.own === null || this.own.available(now) >= 0) && (this.shared === null || this.shared.available(now) >= 0);
  }

  take(bytes: number, now = performance.now()): void {
    this.own?.take(bytes, now);
    this.shared?.take(bytes, now);
  }
}
