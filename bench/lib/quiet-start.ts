/*
 * `BENCH_ONLY=quiet`: websocksy loaded after a quiet spell against websocksy loaded at once. The
 * other workloads measure fresh processes loaded within seconds of their start, but a server in
 * service has sat idle first, and V8 sets its heap limits from the heap it had at its last
 * mark-compact: a process that collected while small can run the same load differently. Before
 * the write batch reused its slabs, one loaded after 20 s idle ran a mark-compact after nearly
 * every scavenge, for good, at half the throughput, and no other workload showed it. About 8 s
 * into a quiet spell V8's memory reducer shrinks the heap, the young generation to 1 MiB included,
 * which a server whose objects die young does not grow back: it then scavenges ten times as often
 * (bench/README.md, "The young generation after a quiet spell", for what that costs).
 *
 * Each round starts both fresh, loads one at once (warm-up, then the measured run, as in the
 * framing workload) and the other once QUIET_SECONDS have passed since its start, on the round's
 * CPU; every other round the one after its quiet spell goes first, so that whatever drifts in a
 * run (the machine, the route's upstream) does not always fall on the same side. Both run with
 * --trace-gc: the memory reducer's collections before the load, and the scavenges and
 * mark-compacts during each measured run, are counted. Two paths, each its own
 * pair of processes: the bridge (binary framing, to the echo peer) and a websocket route
 * (`[route /r] websocket = ws://…`) whose upstream is a websocksy bridge to the same echo peer,
 * started once: its CPU per GB and mark-compacts are shown beside each route run, since an
 * upstream that slows hands the route smaller reads. With the `ws` package as the route's client,
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
import { NODE_ARGS, WEBSOCKSY } from './websocksy-command.js';

type Start = 'at once' | 'after a quiet spell';
type Path = 'bridge' | 'websocket route';

export interface QuietFigure {
  readonly path: Path;
  readonly round: number;
  readonly start: Start;
  readonly mbPerSecond: number;
  readonly cpuPerGB: number;
  readonly markCompacts: number;
  readonly scavenges: number;
  /** Collections V8's memory reducer made before the load: it shrinks an idle heap, young generation included. */
  readonly reducerCollections: number;
  /** The websocket route's upstream bridge during the same run. */
  readonly upstream: { readonly cpuPerGB: number; readonly markCompacts: number } | null;
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

function startTraced(options: QuietOptions, args: readonly string[], name: string): Promise<Started> {
  // --trace-gc writes a line per collection: to a file, not a pipe this process must keep reading.
  const log = join(tmpdir(), `websocksy-bench-quiet-${name.replaceAll(' ', '-')}.log`);
  return startProcess(process.execPath, ['--trace-gc', ...args], /listening .*port=(\d+)/, options.root, 15_000, process.env, log);
}

/** How many of a traced process's --trace-gc lines (`log`) match `kind`. */
function collections(log: string, kind: RegExp): number {
  return (log.match(kind) ?? []).length;
}

interface Tally {
  readonly cpuSeconds: number;
  readonly markCompacts: number;
  readonly scavenges: number;
}

/** CPU seconds, mark-compacts and scavenges of a traced process so far. */
function tally(started: Started): Tally {
  const log = started.output();
  return { cpuSeconds: groupUsage(started.child.pid as number).cpuSeconds, markCompacts: collections(log, /Mark-Compact/g), scavenges: collections(log, /Scavenge/g) };
}

async function loaded(started: Started, setup: PathSetup, start: Start, round: number, layout: CpuLayout | null, options: QuietOptions, upstream: Started | null): Promise<QuietFigure> {
  const pid = started.child.pid as number;
  const loadCpus = placeRound(layout, round, [pid], [options.echo.pid, ...(upstream === null ? [] : [upstream.child.pid as number])]);
  const url = `ws://127.0.0.1:${String(started.match[1])}${setup.urlPath}`;
  const reducerCollections = collections(started.output(), /Mark-Compact \(reduce\)/g);
  if (options.warmupSeconds > 0) await runLoadgen(options.loadgen, framingLoad(url, options.warmupSeconds), (options.warmupSeconds + 60) * 1000, loadCpus);
  const before = tally(started);
  const upstreamBefore = upstream === null ? null : { process: upstream, tally: tally(upstream) };
  const result = await runLoadgen(options.loadgen, framingLoad(url, options.seconds), (options.seconds + 60) * 1000, loadCpus);
  const gigabytes = Number(result['bytes']) / 1e9;
  const perRun = (from: Tally, to: Tally): { cpuPerGB: number; markCompacts: number; scavenges: number } => ({
    cpuPerGB: (to.cpuSeconds - from.cpuSeconds) / gigabytes,
    markCompacts: to.markCompacts - from.markCompacts,
    scavenges: to.scavenges - from.scavenges,
  });
  return {
    path: setup.path,
    round,
    start,
    mbPerSecond: Number(result['mb_per_s']),
    ...perRun(before, tally(started)),
    reducerCollections,
    upstream: upstreamBefore === null ? null : perRun(upstreamBefore.tally, tally(upstreamBefore.process)),
  };
}

export async function quietStartFigures(options: QuietOptions): Promise<QuietFigure[]> {
  const layout = cpuLayout('quiet');
  const figures: QuietFigure[] = [];
  const dir = mkdtempSync(join(tmpdir(), 'websocksy-bench-quiet-'));
  // The route's upstream: a websocksy bridge to the echo peer, measured beside each route run.
  const upstream = await startTraced(options, websocksyArgs(options.echo.port, 'binary'), 'route-upstream');
  const routeConfig = join(dir, 'route.cfg');
  writeFileSync(routeConfig, `[core]\nlisten = 127.0.0.1\nport = 0\nping = 0\n[route /r]\nwebsocket = ws://127.0.0.1:${String(upstream.match[1])}/\n`);
  const setups: PathSetup[] = [
    { path: 'bridge', args: websocksyArgs(options.echo.port, 'binary'), urlPath: '/' },
    { path: 'websocket route', args: [...WEBSOCKSY, routeConfig], urlPath: '/r' },
  ];
  try {
    for (let round = 1; round <= ROUNDS; round++) {
      const quietFirst = round % 2 === 0;
      for (const setup of setups) {
        process.stderr.write(`bench: quiet start, ${setup.path}, round ${round}${quietFirst ? ', the quiet one first' : ''}\n`);
        const routeUpstream = setup.path === 'websocket route' ? upstream : null;
        const atOnce = async (): Promise<void> => {
          const started = await startTraced(options, setup.args, `${setup.path}-at-once`);
          try {
            figures.push(await loaded(started, setup, 'at once', round, layout, options, routeUpstream));
          } finally {
            await started.stop();
          }
        };
        const quiet = await startTraced(options, setup.args, `${setup.path}-quiet`);
        const quietSince = Date.now();
        try {
          if (!quietFirst) await atOnce();
          const left = QUIET_SECONDS * 1000 - (Date.now() - quietSince);
          if (left > 0) await new Promise((resolve) => setTimeout(resolve, left));
          figures.push(await loaded(quiet, setup, 'after a quiet spell', round, layout, options, routeUpstream));
        } finally {
          await quiet.stop();
        }
        if (quietFirst) await atOnce();
      }
    }
  } finally {
    unpin(layout, [options.echo.pid, upstream.child.pid as number]);
    await upstream.stop();
    rmSync(dir, { recursive: true, force: true });
  }
  return figures;
}

export function formatQuietStartSection(figures: readonly QuietFigure[]): string {
  const lines = [
    `## After a quiet spell (16 × 4 KiB lines of digits; each path loaded at once, and ${QUIET_SECONDS} s after its start)`,
    '',
    `The bridge: websocksy, binary framing, to the echo peer. The websocket route: websocksy with \`[route /r] websocket = ws://…\` to a websocksy bridge to the same echo peer, started once; that upstream's CPU per GB and mark-compacts in each route run are in the last columns. Node options from BENCH_NODE_ARGS: ${NODE_ARGS.join(' ') || 'none'}. Rows in the order they ran (the one after its quiet spell first in even rounds).`,
    '',
    '| path | round | loaded | MB/s | CPU s/GB | memory-reducer collections before the load | scavenges in the run | mark-compacts in the run | upstream CPU s/GB | upstream mark-compacts |',
    '|---|---|---|---|---|---|---|---|---|---|',
    ...figures.map(
      (f) =>
        `| ${f.path} | ${f.round} | ${f.start} | ${f.mbPerSecond.toFixed(1)} | ${f.cpuPerGB.toFixed(2)} | ${f.reducerCollections} | ${f.scavenges} | ${f.markCompacts} | ${f.upstream?.cpuPerGB.toFixed(2) ?? '–'} | ${f.upstream?.markCompacts ?? '–'} |`,
    ),
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
