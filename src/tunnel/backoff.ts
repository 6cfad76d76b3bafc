/*
 * Reconnect delays: exponential from `minMs` to `maxMs`, each drawn at random between half and
 * all of its step ("equal jitter"), so clients cut off together do not return together.
 */
export class Backoff {
  private attempts = 0;

  constructor(
    private readonly minMs: number,
    private readonly maxMs: number,
  ) {}

  next(): number {
    const step = Math.min(this.maxMs, this.minMs * 2 ** Math.min(this.attempts, 30));
    this.attempts++;
    return step / 2 + Math.random() * (step / 2);
  }

  reset(): void {
    this.attempts = 0;
  }
}
