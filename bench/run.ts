/*
 * `make bench`: websocksy against the bridges users would pick instead, measured side by side in
 * one run on the same echo peer, so that machine noise cancels out of the ratios.
 * Figures go to the terminal and to bench/results/<date>.md (<date>-HHMMSS.md when that exists).
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { fileURLToPath } from 'node:url';
import { cpuLayout, placeRound, unpin, type CpuLayout } from './lib/cpu-layout.js';
import { framingLoad, holdLoadgen, runLoadgen, type LoadgenResult } from './lib/loadgen.js';
import { startProcess } from './lib/processes.js';
import { formatReport, type Measurement } from './lib/report.js';
import { subjects, type RunningSubject, type Subject } from './lib/subjects.js';
import { formatSessionsSection, sessionFigures, type SessionFigures } from './lib/sessions.js';
import { formatTunnelSection, tunnelFigures, type TunnelFigure } from './lib/tunnel.js';
import { formatRoutesSection, routeFigures, routesMissing, type RouteFigure } from './lib/routes.js';
import { connectionFigures, formatConnectionsSection, type ConnectionFigures } from './lib/connections.js';
import { formatJsEngineSection, jsEngineFigures, type EngineFigure } from './lib/js-engine.js';
import { formatWorkersSection, workersFigures, type WorkersFigure } from './lib/workers.js';
import { formatRelaySection, relayFigures, type RelayFigure } from './lib/cluster-relay.js';
import { glibcVersion, selectEngine } from '../src/front/engine.js';
import { formatQuietStartSection, quietStartFigures, type QuietFigure } from './lib/quiet-start.js';
import { formatScpSection, scpFigures, scpMissing, type ScpFigure } from './lib/scp.js';
import { formatStartUpSection, startUpFigures, type StartUpFigure } from './lib/start-up.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const LOADGEN = `${ROOT}bench/bin/loadgen`;
const ECHO = `${ROOT}bench/bin/echo`;
const SECONDS = Number(process.env['BENCH_SECONDS'] ?? 4);
/**
 * Untimed load each fresh subject of the framing, routes and tunnel workloads runs first: V8 compiles a
 * fresh websocksy's hot path during its first seconds under load, and a server in service is warm.
 */
const WARMUP_SECONDS = Number(process.env['BENCH_WARMUP'] ?? 3);
/**
 * The bridge holds two descriptors per idle connection (client and peer): where the open-file
 * limit cannot fit 10 000 of them (20 000 here, and raising it needs CAP_SYS_RESOURCE), measure
 * as many as fit. The figure is per connection, so the count only has to be large.
 */
function idleConnections(): number {
  const wanted = Number(process.env['BENCH_IDLE'] ?? 10_000);
  const limit = Number(spawnSync('sh', ['-c', 'ulimit -n'], { encoding: 'utf8' }).stdout.trim());
  const fits = Number.isFinite(limit) ? Math.floor((limit - 200) / 2) : wanted;
  if (fits < wanted) process.stderr.write(`bench: the open-file limit (${limit}) fits ${fits} idle bridged connections, not ${wanted}\n`);
  return Math.min(wanted, fits);
}
const IDLE_CONNECTIONS = idleConnections();
const WORKLOADS = ['throughput', 'latency', 'connrate', 'framing', 'idle', 'tunnel', 'sessions', 'routes', 'connections', 'jsengine', 'workers', 'relay', 'quiet', 'scp', 'startup'] as const;
type Workload = (typeof WORKLOADS)[number];
/** BENCH_ONLY=idle,framing runs just those workloads (a quicker loop while profiling one). */
const ONLY = new Set((process.env['BENCH_ONLY'] ?? WORKLOADS.join(',')).split(',').map((name) => name.trim()));
for (const name of ONLY) {
  if (!(WORKLOADS as readonly string[]).includes(name)) {
    process.stderr.write(`bench: BENCH_ONLY names an unknown workload "${name}" (known: ${WORKLOADS.join(', ')})\n`);
    process.exit(2);
  }
}
const wanted = (workload: Workload): boolean => ONLY.has(workload);

const THROUGHPUT: ReadonlyArray<{ conns: number; size: number; window: number }> = [1, 16, 64].flatMap((conns) =>
  [64, 4096, 16384, 65536].map((size) => ({ conns, size, window: size <= 4096 ? 32 : 8 })),
);

/** The load generator against `run`, on `loadCpus` when given; with the subject's CPU seconds over it. */
async function measure(run: RunningSubject, args: readonly string[], loadCpus: string | null = null): Promise<{ result: LoadgenResult; cpuSeconds: number }> {
  const before = run.usage().cpuSeconds;
  const result = await runLoadgen(LOADGEN, args, (SECONDS + 60) * 1000, loadCpus);
  return { result, cpuSeconds: run.usage().cpuSeconds - before };
}

async function throughputRuns(subject: Subject, run: RunningSubject, out: Measurement[]): Promise<void> {
  for (const { conns, size, window } of THROUGHPUT) {
    const args = ['throughput', '--url', run.url, '--conns', String(conns), '--size', String(size), '--window', String(window), '--seconds', String(SECONDS)];
    const { result, cpuSeconds } = await measure(run, args);
    out.push({ subject: subject.name, workload: 'throughput', key: `${conns}x${size}`, result, cpuSeconds });
  }
}

async function latencyRun(subject: Subject, run: RunningSubject, out: Measurement[]): Promise<void> {
  const { result, cpuSeconds } = await measure(run, ['latency', '--url', run.url, '--size', '64', '--count', String(SECONDS * 5000)]);
  out.push({ subject: subject.name, workload: 'latency', key: '64', result, cpuSeconds });
}

async function connrateRun(subject: Subject, run: RunningSubject, out: Measurement[]): Promise<void> {
  const { result, cpuSeconds } = await measure(run, ['connrate', '--url', run.url, '--parallel', '8', '--seconds', String(SECONDS)]);
  out.push({ subject: subject.name, workload: 'connrate', key: '8', result, cpuSeconds });
}

/** Rounds of the framing workload, each subject fresh in each: one process's figure moves by a third and more on this machine. */
const FRAMING_ROUNDS = Number(process.env['BENCH_ROUNDS'] ?? 4);
/** Copies per path in the scp workload: a copy of 200 MiB takes a second or two. */
const SCP_ROUNDS = Number(process.env['BENCH_ROUNDS'] ?? 4);

/** One framing subject's round: on the round's CPU, the echo peer (`echoPid`) and the load generator on the others. */
async function framingRun(subject: Subject, run: RunningSubject, round: number, layout: CpuLayout | null, echoPid: number, out: Measurement[]): Promise<void> {
  const loadCpus = placeRound(layout, round, [run.pid], [echoPid]);
  if (WARMUP_SECONDS > 0) await runLoadgen(LOADGEN, framingLoad(run.url, WARMUP_SECONDS), (WARMUP_SECONDS + 60) * 1000, loadCpus);
  const { result, cpuSeconds } = await measure(run, framingLoad(run.url, SECONDS), loadCpus);
  out.push({ subject: subject.name, workload: 'framing', key: '16x4096', result, cpuSeconds, round });
}

/** Opens the idle connections, reads the bridge's memory, then lets the load generator go. */
async function idleRun(subject: Subject, run: RunningSubject, out: Measurement[]): Promise<void> {
  // Let start-up garbage settle before the baseline.
  await new Promise((resolve) => setTimeout(resolve, 1000));
  const baseline = run.usage().rssBytes;
  const held = await holdLoadgen(LOADGEN, ['idle', '--url', run.url, '--conns', String(IDLE_CONNECTIONS)]);
  await new Promise((resolve) => setTimeout(resolve, 2000));
  const loaded = run.usage().rssBytes;
  await held.release();
  out.push({
    subject: subject.name,
    workload: 'idle',
    key: String(IDLE_CONNECTIONS),
    result: { ...held.first, baseline_rss: baseline, loaded_rss: loaded },
    cpuSeconds: 0,
  });
}

async function withSubject(subject: Subject, echoPort: number, body: (run: RunningSubject) => Promise<void>): Promise<void> {
  process.stderr.write(`bench: ${subject.name}\n`);
  const run = await subject.start(echoPort);
  try {
    await body(run);
  } finally {
    await run.stop();
  }
}

async function machine(): Promise<Readonly<Record<string, string>>> {
  // The engine websocksy picks on this Node, as its start line names it: on Node 22 and 24 that is
  // not the `uWebSockets.js` package's build.
  const engine = await selectEngine(false);
  return {
    date: new Date().toISOString(),
    cpu: `${cpus().length} × ${cpus()[0]?.model ?? 'unknown'}`,
    node: process.version,
    engine: `uWS ${engine.version} (${engine.build} from ${engine.source}), glibc ${glibcVersion()}`,
    kernel: readFileSync('/proc/sys/kernel/osrelease', 'utf8').trim(),
    seconds: String(SECONDS),
  };
}

async function main(): Promise<void> {
  const { main: websocksy, anchors, framings } = subjects(ROOT);
  // Fail before minutes of measuring, not after.
  for (const subject of [websocksy, ...anchors, ...framings]) {
    const why = subject.missing();
    if (why !== null) throw new Error(`${subject.name}: ${why}`);
  }
  const routesWhy = wanted('routes') ? routesMissing() : null;
  if (routesWhy !== null) throw new Error(`routes: ${routesWhy}`);
  const scpWhy = wanted('scp') ? scpMissing() : null;
  if (scpWhy !== null) throw new Error(`scp: ${scpWhy}`);
  const echo = await startProcess(ECHO, ['tcp', '0'], /listening tcp 127\.0\.0\.1:(\d+)/, ROOT);
  const echoPort = Number(echo.match[1]);
  const echoPid = echo.child.pid as number;
  const measurements: Measurement[] = [];
  let tunnel: TunnelFigure[] = [];
  let sessions: SessionFigures | null = null;
  let routes: RouteFigure[] = [];
  let connections: ConnectionFigures | null = null;
  let jsEngine: EngineFigure[] = [];
  let workers: WorkersFigure[] = [];
  let relay: RelayFigure[] = [];
  let quiet: QuietFigure[] = [];
  let scp: ScpFigure[] = [];
  let startUp: StartUpFigure[] = [];
  try {
    if (wanted('throughput') || wanted('latency') || wanted('connrate')) {
      for (const subject of [websocksy, ...anchors]) {
        await withSubject(subject, echoPort, async (run) => {
          if (wanted('throughput')) await throughputRuns(subject, run, measurements);
          if (wanted('latency')) await latencyRun(subject, run, measurements);
          if (wanted('connrate')) await connrateRun(subject, run, measurements);
        });
      }
    }
    if (wanted('framing')) {
      const layout = cpuLayout('framing');
      for (let round = 1; round <= FRAMING_ROUNDS; round++) {
        // The order reversed every round, so that no subject always runs first.
        const order = round % 2 === 1 ? [websocksy, ...framings] : [websocksy, ...framings].reverse();
        for (const subject of order) await withSubject(subject, echoPort, (run) => framingRun(subject, run, round, layout, echoPid, measurements));
      }
      unpin(layout, [echoPid]);
    }
    if (wanted('idle')) {
      // websockify forks a process per connection: 10 000 of them say nothing about a bridge.
      for (const subject of [websocksy, ...anchors.filter((anchor) => anchor.name !== 'websockify')]) {
        await withSubject(subject, echoPort, (run) => idleRun(subject, run, measurements));
      }
    }
    if (wanted('tunnel')) {
      process.stderr.write('bench: tunnel\n');
      tunnel = await tunnelFigures(ROOT, LOADGEN, echoPort, SECONDS, WARMUP_SECONDS);
    }
    if (wanted('scp')) {
      process.stderr.write('bench: scp\n');
      scp = await scpFigures(ROOT, SCP_ROUNDS);
    }
    if (wanted('sessions')) {
      process.stderr.write('bench: sessions\n');
      sessions = await sessionFigures(ROOT, LOADGEN, echoPort, SECONDS);
    }
    if (wanted('routes')) {
      process.stderr.write('bench: routes\n');
      routes = await routeFigures(ROOT, SECONDS, WARMUP_SECONDS);
    }
    if (wanted('connections')) connections = await connectionFigures(ROOT, LOADGEN, { port: echoPort, pid: echoPid }, SECONDS, IDLE_CONNECTIONS);
    if (wanted('jsengine')) jsEngine = await jsEngineFigures(ROOT, LOADGEN, echoPort, SECONDS, IDLE_CONNECTIONS);
    if (wanted('workers')) workers = await workersFigures(ROOT, LOADGEN, echoPort, SECONDS);
    if (wanted('relay')) relay = await relayFigures(ROOT, echoPort, SECONDS);
    if (wanted('startup')) {
      process.stderr.write('bench: startup\n');
      startUp = await startUpFigures(ROOT);
    }
    if (wanted('quiet')) quiet = await quietStartFigures({ root: ROOT, loadgen: LOADGEN, echo: { port: echoPort, pid: echoPid }, seconds: SECONDS, warmupSeconds: WARMUP_SECONDS });
  } finally {
    await echo.stop();
  }
  const info = await machine();
  const report =
    formatReport(info, [websocksy, ...anchors, ...framings], measurements) +
    (tunnel.length === 0 ? '' : '\n' + formatTunnelSection(tunnel)) +
    (scp.length === 0 ? '' : '\n' + formatScpSection(scp)) +
    (sessions === null ? '' : '\n' + formatSessionsSection(sessions)) +
    (routes.length === 0 ? '' : '\n' + formatRoutesSection(routes)) +
    (connections === null ? '' : '\n' + formatConnectionsSection(connections)) +
    (jsEngine.length === 0 ? '' : '\n' + formatJsEngineSection(jsEngine)) +
    (workers.length === 0 ? '' : '\n' + formatWorkersSection(workers)) +
    (relay.length === 0 ? '' : '\n' + formatRelaySection(relay)) +
    (quiet.length === 0 ? '' : '\n' + formatQuietStartSection(quiet)) +
    (startUp.length === 0 ? '' : '\n' + formatStartUpSection(startUp));
  process.stdout.write(report);
  // A partial run must not replace the day's full report.
  const partial = ONLY.size < WORKLOADS.length ? `-${[...ONLY].join('-')}` : '';
  const file = reportPath(info['date'], partial);
  writeFileSync(file, report);
  process.stderr.write(`bench: written to ${file}\n`);
}

/**
 * bench/results/<day><partial>.md; when a report of that name exists, the run's time is added
 * (<day><partial>-HHMMSS.md): a second run of the day never replaces the first, which the latest
 * table may cite.
 */
function reportPath(date: string | undefined, partial: string): string {
  const day = date?.slice(0, 10) ?? 'undated';
  const first = `${ROOT}bench/results/${day}${partial}.md`;
  if (!existsSync(first)) return first;
  const time = date?.slice(11, 19).replaceAll(':', '') ?? String(Date.now());
  return `${ROOT}bench/results/${day}${partial}-${time}.md`;
}

main().catch((error: unknown) => {
  process.stderr.write(`bench: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
});
