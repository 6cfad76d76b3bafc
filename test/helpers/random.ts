/*
 * A seeded pseudo-random generator (mulberry32) for randomized tests. Failures print the seed;
 * TEST_SEED=<seed> replays the same run.
 */

export class Random {
  private state: number;

  constructor(readonly seed: number) {
    this.state = seed >>> 0;
  }

  /** A float in [0, 1). */
  next(): number {
    this.state = (this.state + 0x6d2b79f5) >>> 0;
    let t = this.state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 0x100000000;
  }

  /** An integer in [min, max]. */
  int(min: number, max: number): number {
    return min + Math.floor(this.next() * (max - min + 1));
  }

  chance(probability: number): boolean {
    return this.next() < probability;
  }

  pick<T>(items: readonly T[]): T {
    if (items.length === 0) throw new Error('pick from an empty list');
    return items[this.int(0, items.length - 1)] as T;
  }

  bytes(length: number): Buffer {
    const out = Buffer.allocUnsafe(length);
    for (let i = 0; i < length; i++) out[i] = this.int(0, 255);
    return out;
  }
}

/** TEST_SEED from the environment, to replay a failure; else a fresh seed. */
export function testSeed(): number {
  const fromEnvironment = process.env['TEST_SEED'];
  if (fromEnvironment !== undefined && fromEnvironment !== '') return Number.parseInt(fromEnvironment, 10) >>> 0;
  return Math.floor(Math.random() * 0x100000000);
}
