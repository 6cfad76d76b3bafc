/*
 * A token bucket in bytes: `rate` bytes per second flow in, up to `burst`. Taking is allowed
 * into debt: a read or a message is never split, so one that finds tokens left is passed on
 * whole and the bucket goes negative; the one after it waits until the debt is paid. Over any
 * stretch of time, what passes is at most burst + rate × time (plus the last item's size).
 * Refilling is computed from the time since the last take, on the shared coarse clock
 * (throttle.ts), so a bucket costs no clock read and no timer of its own.
 */
import { rateClock } from './throttle.js';

/** At least one peer read (core/send-policy.ts LARGEST_PEER_READ) fits in a burst. */
const MIN_BURST = 64 * 1024;
/** A burst is this many seconds of the rate. */
const BURST_SECONDS = 0.25;

export function burstFor(rate: number): number {
  return Math.max(MIN_BURST, Math.round(rate * BURST_SECONDS));
}

export class TokenBucket {
  /** Negative: debt. Current as of the last refill. */
  tokens: number;
  private last = rateClock.now;

  constructor(
    readonly rate: number,
    readonly burst = burstFor(rate),
  ) {
    this.tokens = burst;
  }

  /** Adds what flowed in since the last refill; returns the tokens now. */
  refill(now: number): number {
    const refilled = this.tokens + ((now - this.last) * this.rate) / 1000;
    this.tokens = refilled > this.burst ? this.burst : refilled;
    this.last = now;
    return this.tokens;
  }
}

/**
 * One direction of a connection: its own bucket and its identity's shared one, either optional.
 * Each call refills each bucket once: it runs per read or message when a rate limit is set.
 */
export class RateGate {
  constructor(
    private readonly own: TokenBucket | null,
    public shared: TokenBucket | null,
  ) {}

  /** True when both buckets are out of debt: the next item may pass. */
  open(now: number): boolean {
    const { own, shared } = this;
    return (own === null || own.refill(now) >= 0) && (shared === null || shared.refill(now) >= 0);
  }

  /** Takes `bytes` if the gate is open (client → peer, before passing); false when the item must wait. */
  pass(bytes: number, now: number): boolean {
    if (!this.open(now)) return false;
    if (this.own !== null) this.own.tokens -= bytes;
    if (this.shared !== null) this.shared.tokens -= bytes;
    return true;
  }

  /** Takes `bytes` that already passed (peer → client, after a read); false when the gate is now in debt. */
  spend(bytes: number, now: number): boolean {
    const { own, shared } = this;
    let open = true;
    if (own !== null) {
      own.tokens = own.refill(now) - bytes;
      open = own.tokens >= 0;
    }
    if (shared !== null) {
      shared.tokens = shared.refill(now) - bytes;
      open &&= shared.tokens >= 0;
    }
    return open;
  }
}
