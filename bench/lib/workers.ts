/*
 * `BENCH_ONLY=workers`: `[core] workers = 2` against one (docs/cluster.md), websocksy with binary
 * framing in front of the C echo peer, started in turn and repeated (1, 2, 1, 2, ...) so that the
 * machine's noise shows as a range. Figures: 64 B messages per second (64 connections, 16 in
 * flight each), connections per second (open, echo, close; 32 in parallel, which keeps one worker busy) with the failed ones,
 * and the CPU every websocksy process and the load generator used, since on a small machine the
 * clients take their share of the cores the workers would use. websocksy logs a line per
 * connection: that goes to a file, not through a pipe this process would have to read meanwhile.
 */
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runLoadgen, type LoadgenResult } from './loadgen.js';
import { reapedChildrenSeconds, startProcess, treeUsage } from './processes.js';
import { roundRatios } from './rounds.js';
import { WEBSOCKSY } from './websocksy-command.js';

export interface WorkersFigure {
  readonly workers: 1 | 2;
  readonly round: number;
  readonly messagesPerSecond: number;
  readonly messageCpu: CpuShares;
  readonly connsPerSecond: number;
  readonly connFailures: number;
  readonly connCpu: CpuShares;
}

/** Cores used during a run: websocksy's processes together, and the load generator. */
interface CpuShares {
  readonly websocksy: number;
  readonly loadgen: number;
}

const ROUNDS = Number(process.env['BENCH_ROUNDS'] ?? 2);
/** What a started websocksy says once it accepts: the primary's line with workers, the server's without. */
const READY = /(?:cluster listening workers=\d+|info {2}listening address=\S+) port=(\d+)/;

async function measured(root: number, seconds: number, run: () => Promise<LoadgenResult>): Promise<{ result: LoadgenResult; cpu: CpuShares }> {
  const started = Date.now();
  const server = treeUsage(root).cpuSeconds;
  const loadgen = reapedChildrenSeconds();
  const result = await run();
  const elapsed = Math.max((Date.now() - started) / 1000, seconds / 2);
  return { result, cpu: { websocksy: (treeUsage(root).cpuSeconds - server) / elapsed, loadgen: (reapedChildrenSeconds() - loadgen) / elapsed } };
}

async function measureWorkers(workers: 1 | 2, round: number, rootDir: string, loadgen: string, echoPort: number, seconds: number): Promise<WorkersFigure> {
  const args = [...WEBSOCKSY, '-l', '127.0.0.1', '-p', '0', '-k', '0', '-w', String(workers), '-c', `host=tcp://127.0.0.1:${echoPort}`, '-c', 'framing=binary'];
  const started = await startProcess(process.execPath, args, READY, rootDir, 20_000, process.env, join(tmpdir(), `websocksy-bench-workers-${workers}.log`));
  const url = `ws://127.0.0.1:${String(started.match[1])}/`;
  const root = started.child.pid as number;
  const timeoutMs = (seconds + 60) * 1000;
  try {
    const messages = await measured(root, seconds, () => runLoadgen(loadgen, ['throughput', '--url', url, '--conns', '64', '--size', '64', '--window', '16', '--seconds', String(seconds)], timeoutMs));
    const conns = await measured(root, seconds, () => runLoadgen(loadgen, ['connrate', '--url', url, '--parallel', '32', '--seconds', String(seconds)], timeoutMs));
    return {
      workers,
      round,
      messagesPerSecond: Number(messages.result['msgs_per_s']),
      messageCpu: messages.cpu,
      connsPerSecond: Number(conns.result['conns_per_s']),
      connFailures: Number(conns.result['failures']),
      connCpu: conns.cpu,
    };
  } finally {
    await started.stop();
  }
}

export async function workersFigures(rootDir: string, loadgen: string, echoPort: number, seconds: number): Promise<WorkersFigure[]> {
  const figures: WorkersFigure[] = [];
  for (let round = 1; round <= ROUNDS; round++) {
    for (const workers of [1, 2] as const) {
      process.stderr.write(`bench: workers round ${round}: ${workers}\n`);
      figures.push(await measureWorkers(workers, round, rootDir, loadgen, echoPort, seconds));
    }
  }
  return figures;
}


function cores(cpu: CpuShares): string {
  return `${cpu.websocksy.toFixed(2)} / ${cpu.loadgen.toFixed(2)}`;
}

export function formatWorkersSection(figures: readonly WorkersFigure[]): string {
  const rows = figures.map(
    (f) => `| ${f.round} | ${f.workers} | ${(f.messagesPerSecond / 1000).toFixed(0)} k | ${cores(f.messageCpu)} | ${f.connsPerSecond.toFixed(0)} | ${f.connFailures} | ${cores(f.connCpu)} |`,
  );
  const ratios = (pick: (f: WorkersFigure) => number): string => roundRatios(figures, (f) => f.workers === 2, (f) => f.workers === 1, pick);
  return [
    '## 2 workers ÷ 1 worker (websocksy on both, binary framing, C echo peer)',
    '',
    '| round | workers | 64 B msg/s (64 conns, window 16) | cores: websocksy / loadgen | conn/s (32 parallel) | failed conns | cores: websocksy / loadgen |',
    '|---|---|---|---|---|---|---|',
    ...rows,
    '',
    `2 ÷ 1, per round: 64 B msg/s ${ratios((f) => f.messagesPerSecond)}; conn/s ${ratios((f) => f.connsPerSecond)} (target for both: ≥ 1.5)`,
    '',
  ].join('\n');
}
