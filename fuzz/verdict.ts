/*
 * Whether a run passed, and the bounds it is held to. A run fails when the server died, the
 * health client failed, the guard logged an internal error or a log line carries an
 * exception's text, an oracle saw a request escape or a session break its promise, a case's
 * own code threw, a session outlived every bound on its life, or the server's descriptors or
 * memory did not come back after a quiet period, or it kept a closed connection's descriptor.
 */
import type { HealthResult } from './health-thread.js';
import type { HeapSample } from './heap-sample.js';
import { isClosedConnection } from './open-files.js';
import type { LogWatch } from './log-watch.js';
import type { ProcessSample } from './process-stats.js';
import type { Runner } from './runner.js';
import { SESSION_SETTLE_MS } from './session-watch.js';
import type { Targets } from './targets.js';

const MIB = 1024 * 1024;
/**
 * After each quiet period every fuzz connection is gone, and with it every socket the server
 * opened for one: the tunnel grace (0.25 s) and the route pool's idle connections
 * (ROUTE_POOL_IDLE_MS, among them those opened for requests whose client left first) end within
 * the default quiet period, which starts once every session has ended. One descriptor of slack:
 * the health client's /api request may hold a pool connection at that moment.
 */
const FD_SLACK = 1;
/**
 * RSS does not come back to its start after a quiet second even when nothing leaks: V8 keeps
 * the heap it grew to (measured: start ~65 MiB, ~85 MiB after each busy half). So memory is
 * judged between the two quiet periods, which follow the same load, each read with the heap
 * collected and malloc's free pages returned (fuzz/settle-memory.cjs; without that, what glibc
 * kept swung by up to 33 MiB between equal halves, where now it moves by 1-3 MiB): the second
 * may exceed the first by at most RSS_GROWTH. And whatever is kept after a quiet period stays
 * under RSS_CEILING above the start.
 */
const RSS_GROWTH = 16 * MIB;
const RSS_CEILING = 192 * MIB;
/**
 * A slow leak of JavaScript objects hides under RSS_GROWTH, so what the collected heap holds is
 * judged between the two quiet periods too, with compiled code and bytecode left out (V8
 * compiles more of the program as the run goes on). Measured with nothing leaking (2026-12-07):
 * -0.03 to +0.15 MiB over 6 s runs, +0.35 to +0.42 MiB over 60 and 180 s; half a KiB kept per
 * WebSocket opened grew it by 2.1 MiB over 180 s, RSS by 6.4. ArrayBuffers are reported and not
 * bounded here: the buffer pools may keep up to 17 MiB of spares, filled as the load asks.
 */
const HEAP_OBJECT_GROWTH = 1 * MIB;

/** Read after the heap was collected and malloc's free pages returned. */
export interface SettledSample extends ProcessSample {
  /** Null when the server did not write its heap figures after the collection. */
  readonly heap: HeapSample | null;
}

export interface ServerSamples {
  readonly start: SettledSample;
  /** After the first half and its quiet period. */
  readonly middle: SettledSample;
  readonly end: SettledSample;
}

const mib = (bytes: number): string => `${(bytes / MIB).toFixed(1)} MiB`;

function heapFailures({ start, middle, end }: ServerSamples): string[] {
  const [half, last] = [middle.heap, end.heap];
  if (start.heap === null || half === null || last === null) return ['the server did not write its heap figures after one of its collections (at the start, half-way or at the end)'];
  if (last.objectBytes <= half.objectBytes + HEAP_OBJECT_GROWTH) return [];
  return [`the heap's JavaScript objects grew from ${mib(half.objectBytes)} half-way to ${mib(last.objectBytes)} at the end (bound: + ${mib(HEAP_OBJECT_GROWTH)})`];
}

function resourceFailures(samples: ServerSamples): string[] {
  const { start, middle, end } = samples;
  const failures: string[] = [];
  for (const [when, sample] of [['half-way', middle], ['at the end', end]] as const) {
    if (sample.fds > start.fds + FD_SLACK) failures.push(`open fds did not come back: ${start.fds} at the start, ${sample.fds} ${when} (bound: start + ${FD_SLACK})`);
    if (sample.rssBytes > start.rssBytes + RSS_CEILING) failures.push(`RSS ${when} ${mib(sample.rssBytes)}, more than ${mib(RSS_CEILING)} above the start (${mib(start.rssBytes)})`);
  }
  if (end.rssBytes > middle.rssBytes + RSS_GROWTH) failures.push(`RSS grew from ${mib(middle.rssBytes)} half-way to ${mib(end.rssBytes)} at the end (bound: + ${mib(RSS_GROWTH)})`);
  return [...failures, ...heapFailures(samples)];
}

/**
 * `newDescriptors`: per quiet period, the server's descriptors not open at the start. One whose
 * connection is gone fails the run even within FD_SLACK: nothing would ever close it.
 */
export function verdict(
  targets: Targets,
  runner: Runner,
  watch: LogWatch,
  health: HealthResult,
  samples: ServerSamples,
  sessionsLeft: ReadonlyArray<readonly string[]>,
  newDescriptors: ReadonlyArray<readonly string[]>,
): string[] {
  const failures: string[] = [];
  const exit = targets.server.exited;
  if (exit !== null) failures.push(`the server died (exit code ${String(exit.code)}, signal ${String(exit.signal)})`);
  if (health.failure !== null) failures.push(`the health client failed: ${health.failure}`);
  if (health.wsLatencies.length === 0 || health.httpLatencies.length === 0) failures.push('the health client never got an answer');
  if (watch.internalErrors.count > 0) failures.push(`${watch.internalErrors.count} internal error(s) logged`);
  if (watch.exceptionTexts.size > 0) failures.push(`${[...watch.exceptionTexts.values()].reduce((sum, { count }) => sum + count, 0)} log line(s) carry an exception's text`);
  if (targets.findings.length > 0) failures.push(`${targets.findings.length} oracle finding(s)`);
  if (runner.fuzzerErrors.length > 0) failures.push(`${runner.fuzzerErrors.length} case(s) failed in the fuzzer's own code`);
  if (exit === null) failures.push(...resourceFailures(samples));
  const leaked = new Set(newDescriptors.flat().filter(isClosedConnection));
  if (leaked.size > 0) failures.push(`${leaked.size} descriptor(s) of closed connections left open: ${[...leaked].join('; ')}`);
  for (const left of sessionsLeft) if (left.length > 0) failures.push(`${left.length} session(s) still open ${SESSION_SETTLE_MS / 1000} s after the cases ended (they never expire): ${left.slice(0, 5).join(' ')}`);
  if (runner.finished === 0) failures.push('no case finished');
  return failures;
}
