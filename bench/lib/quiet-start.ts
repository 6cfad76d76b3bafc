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
 * Two paths, each its own pair of processes: the bridge (binary framing, to the echo peer) and
 * a websocket route (`[route /r] websocket = ws://…`) whose upstream is a websocksy bridge to the
 * same echo peer, started once and not measured. With the `ws` package as the route's client,
 * the route ran a mark-compact after nearly every scavenge once it had sat idle.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cpuLayout, placeRound, unpin, type CpuLayout } from './cpu-layout.js';
import { framingLoad, runLoadgen } from './loadgen.js';
import { groupUsage, startProcess, type Started } from './processes.js';
import { median, range, roundRatioValues } from './rounds.js';
import { websocksyArgs } from './subjects.js';

type Start = 'at once' | 'after a quiet spell';
type Path = 'bridge' | 'websocket route';

export interface QuietFigure {
  readonly path: Path;
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

/** How to start a measured process of a path, and the path its load goes to. */
interface PathSetup {
  readonly path: Path;
  readonly args: readonly string[];
  readonly urlPath: string;
}

function startTraced(options: QuietOptions, setup: PathSetup, name: string): Promise<Started> {
  // --trace-gc writes a line per collection: to a file, not a pipe this process must keep reading.
  const log = join(tmpdir(), `websocksy-bench-quiet-${setup.path.replace(' ', '-')}-${name}.log`);
  return startProcess(process.execPath, ['--trace-gc', ...setup.args], /listening .*port=(\d+)/, options.root, 15_000, process.env, log);
}

function markCompacts(started: Started): number {
  return (started.output().match(/Mark-Compact/g) ?? []).length;
}

async function loaded(started: Started, setup: PathSetup, start: Start, round: number, layout: CpuLayout | null, options: QuietOptions, others: readonly number[]): Promise<QuietFigure> {
  const pid = started.child.pid as number;
  const loadCpus = placeRound(layout, round, [pid], [options.echo.pid, ...others]);
  const url = `ws://127.0.0.1:${String(started.match[1])}${setup.urlPath}`;
  if (options.warmupSeconds > 0) await runLoadgen(options.loadgen, framingLoad(url, options.warmupSeconds), (options.warmupSeconds + 60) * 1000, loadCpus);
  const cpuBefore = groupUsage(pid).cpuSeconds;
  const collectedBefore = markCompacts(started);
  const result = await runLoadgen(options.loadgen, framingLoad(url, options.seconds), (options.seconds + 60) * 1000, loadCpus);
  const bytes = Number(result['bytes']);
  return {
    path: setup.path,
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
  const dir = mkdtempSync(join(tmpdir(), 'websocksy-bench-quiet-'));
  // The route's upstream: a websocksy bridge to the echo peer, not measured.
  const upstream = await startProcess(process.execPath, websocksyArgs(options.echo.port, 'binary'), /listening .*port=(\d+)/, options.root);
  const routeConfig = join(dir, 'route.cfg');
  writeFileSync(routeConfig, `[core]\nlisten = 127.0.0.1\nport = 0\nping = 0\n[route /r]\nwebsocket = ws://127.0.0.1:${String(upstream.match[1])}/\n`);
  const setups: PathSetup[] = [
    { path: 'bridge', args: websocksyArgs(options.echo.port, 'binary'), urlPath: '/' },
    { path: 'websocket route', args: ['bin/websocksy', routeConfig], urlPath: '/r' },
  ];
  const upstreamPid = upstream.child.pid as number;
  try {
    for (let round = 1; round <= ROUNDS; round++) {
      for (const setup of setups) {
        process.stderr.write(`bench: quiet start, ${setup.path}, round ${round}\n`);
        const others = setup.path === 'websocket route' ? [upstreamPid] : [];
        const quiet = await startTraced(options, setup, 'quiet');
        const quietSince = Date.now();
        try {
          const atOnce = await startTraced(options, setup, 'at-once');
          try {
            figures.push(await loaded(atOnce, setup, 'at once', round, layout, options, others));
          } finally {
            await atOnce.stop();
          }
          const left = QUIET_SECONDS * 1000 - (Date.now() - quietSince);
          if (left > 0) await new Promise((resolve) => setTimeout(resolve, left));
          figures.push(await loaded(quiet, setup, 'after a quiet spell', round, layout, options, others));
        } finally {
          await quiet.stop();
        }
      }
    }
  } finally {
    unpin(layout, [options.echo.pid, upstreamPid]);
    await upstream.stop();
    rmSync(dir, { recursive: true, force: true });
  }
  return figures;
}

export function formatQuietStartSection(figures: readonly QuietFigure[]): string {
  const lines = [
    `## After a quiet spell (16 × 4 KiB lines of digits; each path loaded at once, and ${QUIET_SECONDS} s after its start)`,
    '',
    'The bridge: websocksy, binary framing, to the echo peer. The websocket route: websocksy with `[route /r] websocket = ws://…` to a websocksy bridge to the same echo peer (that one not measured).',
    '',
    '| path | round | loaded | MB/s | CPU s/GB | mark-compacts in the run |',
    '|---|---|---|---|---|---|',
    ...figures.map((f) => `| ${f.path} | ${f.round} | ${f.start} | ${f.mbPerSecond.toFixed(1)} | ${f.cpuPerGB.toFixed(2)} | ${f.markCompacts} |`),
    '',
  ];
  for (const path of ['bridge', 'websocket route'] as const) {
    const ratios = roundRatioValues(figures, (f) => f.path === path && f.start === 'after a quiet spell', (f) => f.path === path && f.start === 'at once', (f) => f.cpuPerGB);
    if (ratios.length === 0) continue;
    const middle = median(ratios);
    lines.push(`- ${path}: after a quiet spell ÷ at once, CPU/GB per round: ${range(ratios)}; median ${middle.toFixed(2)} (target ≤ ${TARGET_RATIO}: ${middle <= TARGET_RATIO ? 'met' : 'MISSED'})`);
  }
  const routeOverBridge = roundRatioValues(figures, (f) => f.path === 'websocket route' && f.start === 'at once', (f) => f.path === 'bridge' && f.start === 'at once', (f) => f.cpuPerGB);
  if (routeOverBridge.length > 0) lines.push(`- websocket route ÷ bridge, CPU/GB loaded at once, per round: ${range(routeOverBridge)}; median ${median(routeOverBridge).toFixed(2)} (two WebSocket hops in one process against one)`);
  return lines.join('\n') + '\n';
}
