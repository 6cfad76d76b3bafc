/*
 * The end-of-run report: cases per class and the answers seen, what the neighbour client
 * measured, the server's memory and descriptors, every internal error with the inputs in
 * flight when it was logged, the oracles' findings, and the verdict with its reasons.
 */
import type { HeapSample } from './heap-sample.js';
import type { ProcessSample } from './process-stats.js';
import type { CaseRecord, Counts, Runner } from './runner.js';
import type { LogWatch, Sighting, Sightings } from './log-watch.js';
import { CASE_CLASSES } from './fuzz-case.js';
import type { SettledSample } from './verdict.js';

export interface RunSummary {
  readonly seed: number;
  readonly seconds: number;
  readonly concurrency: number;
  readonly ranMs: number;
  readonly runner: Runner;
  readonly watch: LogWatch;
  readonly health: { readonly wsLatencies: readonly number[]; readonly httpLatencies: readonly number[]; readonly failure: string | null; readonly inFlightAtFailure: readonly CaseRecord[] };
  readonly loopDelay: { readonly p99Ms: number; readonly maxMs: number };
  readonly server: {
    readonly start: SettledSample;
    readonly peak: ProcessSample;
    readonly middle: SettledSample;
    readonly end: SettledSample;
    readonly quietSeconds: number;
    /** After each quiet period: the descriptors that were not open at the start. */
    readonly newDescriptors: ReadonlyArray<readonly string[]>;
  };
  /** Resumable sessions: the most open at once, and those left after each half's wait. */
  readonly sessions: { readonly peak: number; readonly left: ReadonlyArray<readonly string[]> };
  /** When the server died: the cases in flight at that moment and its last log lines. */
  readonly death: { readonly inFlight: readonly CaseRecord[]; readonly tail: readonly string[] } | null;
  /** What the oracles saw, each with the cases then in flight. */
  readonly findings: Sightings;
  readonly failures: readonly string[];
  readonly logPath: string;
}

const MIB = 1024 * 1024;

function percentile(values: readonly number[], fraction: number): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(fraction * (sorted.length - 1)))] as number;
}

function sortedCounts(counts: Counts | undefined): string {
  if (counts === undefined || counts.size === 0) return '-';
  return [...counts.entries()].sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0])).map(([key, count]) => `${key}: ${count}`).join(', ');
}

function total(counts: Counts | undefined): number {
  return [...(counts?.values() ?? [])].reduce((sum, count) => sum + count, 0);
}

function describeCase(record: CaseRecord): string {
  return `    case #${record.index} FUZZ_CASE=${record.seed} ${record.kind} → ${record.target}: ${record.input}`;
}

/** The cases in flight, the most recently started first (the likeliest cause of what just happened). */
function inFlight(cases: readonly CaseRecord[], max = 15): string[] {
  const recent = [...cases].sort((a, b) => b.startedAt - a.startedAt);
  const shown = recent.slice(0, max).map(describeCase);
  return recent.length > max ? [...shown, `    …and ${recent.length - max} more, started earlier`] : shown;
}

function sighting(seen: Sighting): string[] {
  return [`  ${seen.line}`, '   cases in flight at that moment, latest first (replay one with FUZZ_CASE=<seed> make fuzz):', ...inFlight(seen.inFlight)];
}

function kept(sightings: Sightings): string {
  return sightings.count > sightings.kept.length ? ` (the first ${sightings.kept.length} shown)` : '';
}

function latency(name: string, values: readonly number[]): string {
  return `  ${name}: ${values.length} round trips, p50 ${percentile(values, 0.5)} ms, p99 ${percentile(values, 0.99)} ms, max ${values.length === 0 ? NaN : Math.max(...values)} ms`;
}

function sample(label: string, value: ProcessSample): string {
  return `${label} ${(value.rssBytes / MIB).toFixed(1)} MiB / ${value.fds} fds`;
}

function heap(label: string, value: HeapSample | null): string {
  if (value === null) return `${label} not written`;
  const mib = (bytes: number): string => (bytes / MIB).toFixed(2);
  return `${label} ${mib(value.objectBytes)} / ${mib(value.codeBytes)} / ${mib(value.arrayBufferBytes)} MiB`;
}

export function formatReport(summary: RunSummary): string {
  const { runner, watch, health, server } = summary;
  const lines: string[] = [];
  lines.push('', `=== websocksy fuzz report: seed ${summary.seed} (FUZZ_SEED=${summary.seed} replays the inputs), ${(summary.ranMs / 1000).toFixed(1)} s, concurrency ${summary.concurrency}`);
  lines.push(`cases: ${runner.finished} finished (${(runner.finished / (summary.ranMs / 1000)).toFixed(1)}/s), ${runner.cutAtEnd} in flight at the end (cut, not counted)`);
  lines.push(`per target: ${sortedCounts(runner.perTarget)}`);
  lines.push('', 'answers per class:');
  for (const kind of CASE_CLASSES) {
    const answers = runner.answers.get(kind);
    if (answers === undefined) continue;
    lines.push(`  ${kind} (${total(answers)} cases): ${sortedCounts(answers)}`);
    const extras = runner.extras.get(kind);
    if (extras !== undefined && extras.size > 0) lines.push(`    also seen: ${sortedCounts(extras)}`);
  }
  lines.push('', 'health (the neighbour that must keep working):');
  lines.push(latency('bridged WebSocket echo every 100 ms', health.wsLatencies));
  lines.push(latency(`HTTP GET on the /api route every 100 ms`, health.httpLatencies));
  lines.push(`  fuzzer's event loop delay (the health client runs in a thread of its own): p99 ${summary.loopDelay.p99Ms.toFixed(1)} ms, max ${summary.loopDelay.maxMs.toFixed(1)} ms`);
  lines.push(`  ${health.failure === null ? 'never failed' : `FAILED: ${health.failure}`}`);
  if (health.inFlightAtFailure.length > 0) lines.push('  cases in flight when it failed, latest first:', ...inFlight(health.inFlightAtFailure));
  lines.push('', `server (RSS / open fds): ${sample('start', server.start)}; ${sample('peak', server.peak)}; after ${server.quietSeconds} quiet s: ${sample('half-way', server.middle)}, ${sample('at the end', server.end)}`);
  lines.push(`server heap after each collection (JavaScript objects / code and bytecode / ArrayBuffers): ${heap('start', server.start.heap)}; ${heap('half-way', server.middle.heap)}; ${heap('at the end', server.end.heap)}`);
  server.newDescriptors.forEach((files, index) => {
    if (files.length > 0) lines.push(`  open after the ${index === 0 ? 'first' : 'second'} quiet period and not at the start:`, ...files.map((file) => `    ${file}`));
  });
  lines.push(`resumable sessions: at most ${summary.sessions.peak} open at once; left open after the cases ended: ${summary.sessions.left.map((left) => left.length).join(' and ')}`);
  lines.push(`server log: ${sortedCounts(watch.levels)} lines (${summary.logPath})`);
  if (summary.death !== null) {
    lines.push('', 'THE SERVER DIED. Its last lines:', ...summary.death.tail.map((line) => `  ${line}`));
    lines.push('cases in flight when it died, latest first (replay one with FUZZ_CASE=<seed> make fuzz):', ...inFlight(summary.death.inFlight));
  }
  lines.push('', `internal errors logged by the guard: ${watch.internalErrors.count}${kept(watch.internalErrors)}`);
  for (const error of watch.internalErrors.kept) lines.push(...sighting(error));
  if (watch.exceptionTexts.size > 0) {
    lines.push("log lines that carry an exception's text (input that reached code which threw):");
    for (const [message, { count, first }] of watch.exceptionTexts) lines.push(`  ${count} × ${message}, the first:`, ...sighting(first));
  }
  const otherErrors = [...watch.errors.entries()].filter(([message]) => !message.startsWith('internal error'));
  if (otherErrors.length > 0) {
    lines.push('other error lines:');
    for (const [message, { count, first }] of otherErrors) lines.push(`  ${count} × ${message} — first: ${first}`);
  }
  lines.push('', `oracle findings (paths out of the route's base, smuggled requests, the canary port, sessions): ${summary.findings.count}${kept(summary.findings)}`);
  for (const finding of summary.findings.kept) lines.push(...sighting(finding));
  if (runner.fuzzerErrors.length > 0) {
    lines.push('', `fuzzer errors (a case's own code threw): ${runner.fuzzerErrors.length}`);
    for (const { record, error } of runner.fuzzerErrors.slice(0, 20)) lines.push(`  ${error}`, describeCase(record));
  }
  lines.push('', summary.failures.length === 0 ? 'verdict: PASS' : `verdict: FAIL\n${summary.failures.map((failure) => `  - ${failure}`).join('\n')}`);
  return lines.join('\n');
}
