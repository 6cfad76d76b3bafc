/*
 * The connections workload (`BENCH_ONLY=connections`): what a connection costs websocksy against
 * bare uWS + net (bench/anchors/bare-uws-bridge.mjs), as written and given the Node 20 fix
 * websocksy uses (`bare-uws-noproto`), interleaved and repeated, because on this shared machine
 * one pair of figures taken a minute apart says little.
 *   - rate: loadgen connrate, 8 in parallel (open, one echo, close); conn/s, the subject's CPU µs
 *     per connection, and the whole machine's (subject, load generator, echo peer and the kernel's
 *     softirq work, which /proc charges to whichever process is running: machineBusySeconds).
 *     Each subject is started fresh, warmed up under the same load for BENCH_CONN_WARMUP seconds
 *     (default 5), then measured: V8 takes 3–4 s of this load to compile the connection path of
 *     websocksy (more code than bare uWS's handlers, so a short warm-up measures it half cold), and
 *     a server in service is warm. BENCH_CONN_WARMUP=1 gives the figure as measured before.
 *   - idle: N idle bridged connections held on a freshly started subject; RSS per connection
 *     2 s after the last one opened (what a user looking at the process then sees), after a
 *     forced full GC (bench/anchors/gc-on-signal.cjs, SIGUSR2), and once the heap has settled
 *     (settledRss), each against a baseline read before the connections opened.
 * websocksy runs twice: as configured by default, and with --early-upgrade (the 101 before the
 * peer connect). Subjects alternate their order from round to round, so a machine getting busier
 * or quieter does not favour one of them. `BENCH_BASELINE=DIR` adds websocksy built in DIR as a third.
 */
import { cpuLayout, placeRound, unpin } from './cpu-layout.js';
import { runLoadgen, holdLoadgen } from './loadgen.js';
import { groupUsage, machineBusySeconds, startProcess, type Started } from './processes.js';
import { median, range } from './rounds.js';
import { WEBSOCKSY } from './websocksy-command.js';

const GC_PRELOAD = 'bench/anchors/gc-on-signal.cjs';
/** The second anchor: bare uWS given the Node 20 fix websocksy uses (src/lib/socket-options.ts). */
const NO_PROTO_ANCHOR = 'bare-uws-noproto';

interface ConnSubject {
  readonly name: string;
  start(echoPort: number): Promise<{ readonly started: Started; readonly url: string }>;
}

function websocksyIn(name: string, dir: string, root: string, options: readonly string[] = []): ConnSubject {
  return {
    name,
    start: async (echoPort) => {
      const args = ['--require', `${root}${GC_PRELOAD}`, ...WEBSOCKSY, '-l', '127.0.0.1', '-p', '0', '-k', '0', ...options, '-c', `host=tcp://127.0.0.1:${echoPort}`, '-c', 'framing=binary'];
      const started = await startProcess(process.execPath, args, /listening .*port=(\d+)/, dir);
      return { started, url: `ws://127.0.0.1:${Number(started.match[1])}/` };
    },
  };
}

/** Bare uWS + net; `noProto`: its connect options without a prototype, as websocksy makes them on Node 20 (the anchor's header). */
function bareUws(root: string, noProto = false): ConnSubject {
  return {
    name: noProto ? NO_PROTO_ANCHOR : 'bare-uws',
    start: async (echoPort) => {
      const args = ['--require', `${root}${GC_PRELOAD}`, 'bench/anchors/bare-uws-bridge.mjs', '0', '127.0.0.1', String(echoPort), ...(noProto ? ['no-proto'] : [])];
      const started = await startProcess(process.execPath, args, /listening (\d+)/, root);
      return { started, url: `ws://127.0.0.1:${Number(started.match[1])}/` };
    },
  };
}

export interface RateFigure {
  readonly subject: string;
  readonly round: number;
  /** The CPU the subject ran on, or null when the run was not pinned. */
  readonly cpu: number | null;
  readonly connsPerSecond: number;
  readonly cpuMicrosPerConn: number;
  /** Every CPU's busy time over the run, per connection. */
  readonly machineMicrosPerConn: number;
  readonly failures: number;
}

export interface IdleFigure {
  readonly subject: string;
  readonly round: number;
  readonly open: number;
  /** KiB per connection, RSS 2 s after the last opened minus RSS before. */
  readonly kibAt2s: number;
  /** After a forced full GC (the young generation still as large as the burst made it), against the settled baseline. */
  readonly kibAfterGc: number;
  /** Once the heap has settled (settledRss), against a baseline read the same way. */
  readonly kibSettled: number;
}

export interface ConnectionFigures {
  /** Seconds of the same load each subject ran before its rate was measured. */
  readonly warmupSeconds: number;
  readonly rate: RateFigure[];
  readonly idle: IdleFigure[];
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** RSS after a forced full GC (SIGUSR2 to the preload). */
async function rssAfterGc(started: Started): Promise<number> {
  process.kill(started.child.pid as number, 'SIGUSR2');
  await sleep(1000);
  return groupUsage(started.child.pid as number).rssBytes;
}

/**
 * RSS once the heap has settled: V8 gives back the young generation that a burst of
 * allocations grew only in a GC that finds the allocation rate low over its last 5 s, which an
 * idle process never runs by itself; so a GC, 6 s of quiet, and another.
 */
async function settledRss(started: Started): Promise<number> {
  await rssAfterGc(started);
  await sleep(6000);
  return rssAfterGc(started);
}

/** Each round's order: alternate, so that no subject always goes first. */
function orderOf<T>(list: readonly T[], round: number): T[] {
  return round % 2 === 0 ? [...list] : [...list].reverse();
}

export async function connectionFigures(root: string, loadgen: string, echo: { readonly port: number; readonly pid: number }, seconds: number, idleConns: number): Promise<ConnectionFigures> {
  const echoPort = echo.port;
  const rounds = Number(process.env['BENCH_ROUNDS'] ?? 4);
  const warmupSeconds = Number(process.env['BENCH_CONN_WARMUP'] ?? 5);
  const baselineDir = process.env['BENCH_BASELINE'];
  const subjects = [
    websocksyIn('websocksy', root, root),
    // The 101 before the peer connect (docs/operations.md "Early upgrades"): one send, corked.
    websocksyIn('websocksy-early', root, root, ['--early-upgrade']),
    bareUws(root),
    bareUws(root, true),
    ...(baselineDir ? [websocksyIn('baseline', baselineDir, root)] : []),
  ];
  const rate: RateFigure[] = [];
  const idle: IdleFigure[] = [];
  // The rate's subject on a CPU of its own, the load generator and the echo peer on the others,
  // moving between two CPUs every two rounds (cpu-layout.ts).
  const layout = cpuLayout('connections');
  for (let round = 0; round < rounds; round++) {
    for (const subject of orderOf(subjects, round)) {
      process.stderr.write(`bench: connections round ${round + 1}, ${subject.name}\n`);
      const { started, url } = await subject.start(echoPort);
      try {
        const pgid = started.child.pid as number;
        const loadCpus = placeRound(layout, round + 1, [pgid], [echo.pid]);
        await runLoadgen(loadgen, ['connrate', '--url', url, '--parallel', '8', '--seconds', String(warmupSeconds)], (warmupSeconds + 60) * 1000, loadCpus);
        const before = groupUsage(pgid).cpuSeconds;
        const machineBefore = machineBusySeconds();
        const result = await runLoadgen(loadgen, ['connrate', '--url', url, '--parallel', '8', '--seconds', String(seconds)], (seconds + 60) * 1000, loadCpus);
        const cpu = groupUsage(pgid).cpuSeconds - before;
        const machine = machineBusySeconds() - machineBefore;
        rate.push({
          subject: subject.name,
          round,
          cpu: layout === null ? null : layout.subjectCpu(round + 1),
          connsPerSecond: Number(result['conns_per_s']),
          cpuMicrosPerConn: (cpu / Number(result['connections'])) * 1e6,
          machineMicrosPerConn: (machine / Number(result['connections'])) * 1e6,
          failures: Number(result['failures']),
        });
      } finally {
        await started.stop();
      }
    }
    unpin(layout, [echo.pid]);
    // BENCH_IDLE=0 measures the rate alone.
    // The second anchor differs from the first only in its connect: its idle memory is the same.
    for (const subject of idleConns > 0 ? orderOf(subjects.filter((s) => s.name !== NO_PROTO_ANCHOR), round + 1) : []) {
      const { started, url } = await subject.start(echoPort);
      try {
        const pgid = started.child.pid as number;
        await sleep(1000);
        const baseline = groupUsage(pgid).rssBytes;
        const baselineSettled = await settledRss(started);
        const held = await holdLoadgen(loadgen, ['idle', '--url', url, '--conns', String(idleConns)]);
        await sleep(2000);
        const loaded = groupUsage(pgid).rssBytes;
        const loadedGc = await rssAfterGc(started);
        await sleep(6000);
        const loadedSettled = await rssAfterGc(started);
        await held.release();
        const open = Number(held.first['open']);
        const perConn = (bytes: number): number => bytes / open / 1024;
        idle.push({
          subject: subject.name,
          round,
          open,
          kibAt2s: perConn(loaded - baseline),
          kibAfterGc: perConn(loadedGc - baselineSettled),
          kibSettled: perConn(loadedSettled - baselineSettled),
        });
      } finally {
        await started.stop();
      }
    }
  }
  return { warmupSeconds, rate, idle };
}

export function formatConnectionsSection(figures: ConnectionFigures): string {
  const lines = ['## Connections, interleaved (websocksy ÷ bare-uws per round)', '', `Each rate measured after ${figures.warmupSeconds} s of the same load on a freshly started subject.`, ''];
  lines.push('| round | CPU | subject | conn/s | CPU µs/conn | machine CPU µs/conn | failures | conn/s ÷ bare-uws | idle KiB/conn at 2 s | after a GC | settled |', '|---|---|---|---|---|---|---|---|---|---|---|');
  const rounds = [...new Set(figures.rate.map((f) => f.round))];
  const ratios = new Map<string, number[]>();
  const noProtoRatios = new Map<string, number[]>();
  for (const round of rounds) {
    const bare = figures.rate.find((f) => f.round === round && f.subject === 'bare-uws');
    const noProto = figures.rate.find((f) => f.round === round && f.subject === NO_PROTO_ANCHOR);
    for (const f of figures.rate.filter((x) => x.round === round)) {
      const ratio = bare === undefined ? NaN : f.connsPerSecond / bare.connsPerSecond;
      if (f.subject !== 'bare-uws') ratios.set(f.subject, [...(ratios.get(f.subject) ?? []), ratio]);
      if (noProto !== undefined && !f.subject.startsWith('bare-uws')) noProtoRatios.set(f.subject, [...(noProtoRatios.get(f.subject) ?? []), f.connsPerSecond / noProto.connsPerSecond]);
      const held = figures.idle.find((x) => x.round === round && x.subject === f.subject);
      lines.push(
        `| ${round + 1} | ${f.cpu ?? 'any'} | ${f.subject} | ${f.connsPerSecond.toFixed(0)} | ${f.cpuMicrosPerConn.toFixed(0)} | ${f.machineMicrosPerConn.toFixed(0)} | ${f.failures} | ${f.subject === 'bare-uws' ? '' : ratio.toFixed(2)} | ` +
          `${held?.kibAt2s.toFixed(2) ?? ''} | ${held?.kibAfterGc.toFixed(2) ?? ''} | ${held?.kibSettled.toFixed(2) ?? ''} |`,
      );
    }
  }
  const medians = (perSubject: ReadonlyMap<string, number[]>): string => [...perSubject].map(([subject, list]) => `${subject} ${range(list)} (median ${median(list).toFixed(2)})`).join(', ');
  const idleOf = (subject: string): string => {
    const list = figures.idle.filter((f) => f.subject === subject);
    if (list.length === 0) return `${subject} not measured`;
    return `${subject} ${range(list.map((f) => f.kibAt2s))} at 2 s, ${range(list.map((f) => f.kibAfterGc))} after a GC, ${range(list.map((f) => f.kibSettled))} settled`;
  };
  lines.push(
    '',
    `conn/s ÷ bare-uws, per round: ${medians(ratios)} (target ≥ 0.8, in the median); ÷ ${NO_PROTO_ANCHOR} (bare uWS given the same Node 20 fix): ${medians(noProtoRatios)}. ` +
      `Idle KiB per connection (${figures.idle[0]?.open ?? 0} held): ${[...new Set(figures.idle.map((f) => f.subject))].map(idleOf).join('; ')} (target ≤ 5).`,
    '',
  );
  return lines.join('\n');
}
