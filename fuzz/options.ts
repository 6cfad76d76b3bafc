/*
 * The fuzzer's settings, from the environment: FUZZ_SECONDS (default 60), FUZZ_SEED (default
 * random, always printed), FUZZ_CONCURRENCY (default 16), FUZZ_QUIET_SECONDS (default 1),
 * FUZZ_CLASSES (a comma list, default all), FUZZ_CASE (one case seed to replay alone) and
 * FUZZ_VERBOSE=1 (a line per finished case: its seed, input and answer).
 */
import { ROUTE_POOL_IDLE_MS } from '../src/http/upstream-pool.js';
import { CASE_CLASSES, type CaseClass } from './fuzz-case.js';

/**
 * The default quiet period: long enough for the route pool's idle upstream connections to
 * close (ROUTE_POOL_IDLE_MS, which undici's timers keep to within about a second), so that
 * what is still open after it is a leak.
 */
const QUIET_SECONDS = Math.ceil(ROUTE_POOL_IDLE_MS / 1000) + 2;

export interface FuzzOptions {
  readonly seconds: number;
  readonly seed: number;
  readonly concurrency: number;
  readonly quietSeconds: number;
  readonly classes: readonly CaseClass[];
  /** Replay this one case and nothing else. */
  readonly replayCase: number | null;
  readonly verbose: boolean;
}

export class OptionError extends Error {}

function integer(env: NodeJS.ProcessEnv, name: string, fallback: number, min: number, max: number): number {
  const text = env[name];
  if (text === undefined || text === '') return fallback;
  const value = Number(text);
  if (!Number.isInteger(value) || value < min || value > max) throw new OptionError(`${name}=${text}: expected a whole number from ${min} to ${max}`);
  return value;
}

function classes(text: string | undefined): readonly CaseClass[] {
  if (text === undefined || text === '') return CASE_CLASSES;
  const chosen = text.split(',').map((name) => name.trim());
  for (const name of chosen) {
    if (!(CASE_CLASSES as readonly string[]).includes(name)) throw new OptionError(`FUZZ_CLASSES: unknown class "${name}" (known: ${CASE_CLASSES.join(', ')})`);
  }
  return chosen as CaseClass[];
}

export function fuzzOptions(env: NodeJS.ProcessEnv = process.env): FuzzOptions {
  const replay = integer(env, 'FUZZ_CASE', -1, 0, 0xffffffff);
  return {
    seconds: integer(env, 'FUZZ_SECONDS', 60, 1, 7 * 24 * 3600),
    seed: integer(env, 'FUZZ_SEED', Math.floor(Math.random() * 0x100000000), 0, 0xffffffff),
    concurrency: integer(env, 'FUZZ_CONCURRENCY', 16, 1, 512),
    quietSeconds: integer(env, 'FUZZ_QUIET_SECONDS', QUIET_SECONDS, 0, 600),
    classes: classes(env['FUZZ_CLASSES']),
    replayCase: replay < 0 ? null : replay,
    verbose: integer(env, 'FUZZ_VERBOSE', 0, 0, 1) === 1,
  };
}
