/*
 * Where cases come from: the run's seed gives every case a seed of its own, in order, and the
 * case seed alone decides the case's class, target and input. So FUZZ_SEED replays a run's
 * inputs in the same order, and FUZZ_CASE replays one case by itself.
 */
import { Random } from '../test/helpers/random.js';
import { disconnectCase } from './disconnect-case.js';
import { frameCase } from './frame-case.js';
import type { CaseClass, FuzzCase } from './fuzz-case.js';
import { handshakeCase } from './handshake-case.js';
import { sessionCase } from './session-case.js';
import { stalledCase } from './stalled-case.js';
import type { Targets } from './targets.js';
import { tunnelCase } from './tunnel-case.js';
import { upstreamCase } from './upstream-case.js';
import { wsUpstreamCase } from './ws-upstream-case.js';

/** How often each class is drawn (stalled readers are slow and heavy, so rarer). */
const WEIGHTS: Readonly<Record<CaseClass, number>> = { handshake: 30, frames: 25, tunnel: 25, disconnect: 12, stalled: 8, session: 30, upstream: 20, wsupstream: 15 };

const MAKERS: Readonly<Record<CaseClass, (random: Random, targets: Targets) => FuzzCase>> = {
  handshake: handshakeCase,
  frames: frameCase,
  tunnel: tunnelCase,
  disconnect: disconnectCase,
  stalled: stalledCase,
  session: sessionCase,
  upstream: upstreamCase,
  wsupstream: wsUpstreamCase,
};

export interface DrawnCase {
  readonly seed: number;
  readonly fuzzCase: FuzzCase;
  /** The case's generator, continued: its run draws from it too. */
  readonly random: Random;
}

export function drawCase(seed: number, targets: Targets, classes: readonly CaseClass[]): DrawnCase {
  const random = new Random(seed);
  const total = classes.reduce((sum, kind) => sum + WEIGHTS[kind], 0);
  let roll = random.next() * total;
  let kind = classes[classes.length - 1] as CaseClass;
  for (const candidate of classes) {
    roll -= WEIGHTS[candidate];
    if (roll < 0) {
      kind = candidate;
      break;
    }
  }
  return { seed, fuzzCase: MAKERS[kind](random, targets), random };
}

/** The run's case seeds, one after another. */
export class CaseSeeds {
  private readonly random: Random;

  constructor(seed: number) {
    this.random = new Random(seed);
  }

  next(): number {
    return Math.floor(this.random.next() * 0x100000000);
  }
}
