/*
 * `BENCH_ONLY=quiet`: websocksy loaded after a quiet spell against websocksy loaded at once. The
 * other workloads measure fresh processes loaded within seconds of their start, but a server in
 * service has sat idle first, and V8 sets its heap limits from the heap it had at its last
 * mark-compact: a process that collected while small can run the same load differently. Before
 * the write batch reused its slabs, one loaded after 20 s idle ran a mark-compact after nearly
 * every scavenge, for good, at half the throughput, and no other workload showed it.
 *
 * Each round starts both fresh, loads one at once (warm-up, then the measured run, as in the
 * framing workload) and the other once QUIET_SECONDS have passed since its start, on the round's
 * CPU. Both run with --trace-gc, and the mark-compacts during each measured run are counted.
 */
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cpuLayout, placeRound, unpin, type CpuLayout } from './cpu-layout.js';
import { framingLoad, runLoadgen } from './loadgen.js';
import { groupUsage, startProcess, type Started } from './processes.js';
import { median, range, roundRatioValues } from './rounds.js';
import { websocksyArgs } from './subjects.js';

type Start = 'at once' | 'after a quiet spell';

export interface QuietFigure {
  readonly round: number;
  readonly start: Start;
  readonly mbPerSecond: number;
  readonly cpuPerGB: number;
  readonly markCompacts: number;
}

export interface QuietOptions {
  readonly root: string;
  readonly loadgen: string;
  readonly echo: { readonly port: number; readonly pid: number };
  readonly seconds: number;
  readonly warmupSeconds: number;
}

const ROUNDS = Number(process.env['BENCH_ROUNDS'] ?? 3);
const QUIET_SECONDS = Number(process.env['BENCH_QUIET_SECONDS'] ?? 20);
/** CPU per GB after a quiet spell ÷ at once, the median of the rounds: a quiet spell must not cost. */
const TARGET_RATIO = 1.1;

function startTraced(options: QuietOptions, name: string): Promise<Started> {
  // --trace-gc writes a line per collection: to a file, not a pipe this process must keep reading.
  return startProcess(process.execPath, ['--trace-gc', ...websocksyArgs(options.echo.port, 'binary')], /listening .*port=(\d+)/, options.root, 15_000, process.env, join(tmpdir(), `websocksy-bench-quiet-${name}.log`));
}

function markCompacts(started: Started): number {
  return (started.output().match(/Mark-Compact/g) ?? []).length;
}

async function loaded(started: Started, start: Start, round: number, layout: CpuLayout | null, options: QuietOptions): Promise<QuietFigure> {
  const pid = started.child.pid as number;
  const loadCpus = placeRound(layout, round, [pid], [options.echo.pid]);
  const url = `ws://127.0.0.1:${String(started.match[1])}/`;
  if (options.warmupSeconds > 0) await runLoadgen(options.loadgen, framingLoad(url, options.warmupSeconds), (options.warmupSeconds + 60) * 1000, loadCpus);
  const cpuBefore = groupUsage(pid).cpuSeconds;
  const collectedBefore = markCompacts(started);
  const result = await runLoadgen(options.loadgen, framingLoad(url, options.seconds), (options.seconds + 60) * 1000, loadCpus);
  const bytes = Number(result['bytes']);
  return {
    round,
    start,
    mbPerSecond: Number(result['mb_per_s']),
    cpuPerGB: (groupUsage(pid).cpuSeconds - cpuBefore) / (bytes / 1e9),
    markCompacts: markCompacts(started) - collectedBefore,
  };
}

export async function quietStartFigures(options: QuietOptions): Promise<QuietFigure[]> {
  const layout = cpuLayout('quiet');
  const figures: QuietFigure[] = [];
  try {
    for (let round = 1; round <= ROUNDS; round++) {
      process.stderr.write(`bench: quiet start, round ${round}\n`);
      const quiet = await startTraced(options, 'quiet');
      const quietSince = Date.now();
      try {
        const atOnce = await startTraced(options, 'at-once');
        try {
          figures.push(await loaded(atOnce, 'at once', round, layout, options));
        } finally {
          await atOnce.stop();
        }
        const left = QUIET_SECONDS * 1000 - (Date.now() - quietSince);
        if (left > 0) await new Promise((resolve) => setTimeout(resolve, left));
        figures.push(await loaded(quiet, 'after a quiet spell', round, layout, options));
      } finally {
        await quiet.stop();
      }
    }
  } finally {
    unpin(layout, [options.echo.pid]);
  }
  return figures;
}

export function formatQuietStartSection(figures: readonly QuietFigure[]): string {
  const ratios = roundRatioValues(figures, (f) => f.start === 'after a quiet spell', (f) => f.start === 'at once', (f) => f.cpuPerGB);
  const middle = median(ratios);
  return [
    `## After a quiet spell (websocksy, binary framing, 16 × 4 KiB lines of digits; loaded at once, and ${QUIET_SECONDS} s after its start)`,
    '',
    '| round | loaded | MB/s | CPU s/GB | mark-compacts in the run |',
    '|---|---|---|---|---|',
    ...figures.map((f) => `| ${f.round} | ${f.start} | ${f.mbPerSecond.toFixed(1)} | ${f.cpuPerGB.toFixed(2)} | ${f.markCompacts} |`),
    '',
    `after a quiet spell ÷ at once, CPU/GB per round: ${range(ratios)}; median ${middle.toFixed(2)} (target ≤ ${TARGET_RATIO}: ${middle <= TARGET_RATIO ? 'met' : 'MISSED'})`,
    '',
  ].join('\n');
}
