/*
 * `BENCH_ONLY=jsengine`: what websocksy's JS engine (src/front/js-engine, docs/engine.md) costs
 * against the native uWS build, websocksy on both, same binary framing, same echo peer, started
 * in turn and repeated (native, js, native, js, ...) so that the machine's noise shows as a range.
 * Figures: CPU seconds per GB at 16 connections × 4 KiB, connections per second (8 parallel),
 * and KiB of RSS per idle bridged connection. The ratio js ÷ native goes into JS_ENGINE_COST.
 */
import { holdLoadgen, runLoadgen } from './loadgen.js';
import { roundRatios } from './rounds.js';
import { groupUsage, startProcess } from './processes.js';
import { WEBSOCKSY } from './websocksy-command.js';

export interface EngineFigure {
  readonly engine: 'native' | 'js';
  readonly round: number;
  readonly cpuPerGB: number;
  readonly connsPerSecond: number;
  readonly cpuMicrosPerConn: number;
  readonly kibPerIdleConnection: number;
}

const ROUNDS = Number(process.env['BENCH_ROUNDS'] ?? 2);

async function measureEngine(engine: 'native' | 'js', round: number, root: string, loadgen: string, echoPort: number, seconds: number, idle: number): Promise<EngineFigure> {
  const env = { ...process.env, WEBSOCKSY_ENGINE: engine === 'js' ? 'js' : '' };
  const started = await startProcess(process.execPath, [...WEBSOCKSY, '-l', '127.0.0.1', '-p', '0', '-k', '0', '-c', `host=tcp://127.0.0.1:${echoPort}`], /listening .*port=(\d+)/, root, 15_000, env);
  const url = `ws://127.0.0.1:${String(started.match[1])}/`;
  const pgid = started.child.pid as number;
  const cpu = (): number => groupUsage(pgid).cpuSeconds;
  try {
    let before = cpu();
    const throughput = await runLoadgen(loadgen, ['throughput', '--url', url, '--conns', '16', '--size', '4096', '--window', '32', '--seconds', String(seconds)], (seconds + 60) * 1000);
    const cpuPerGB = (cpu() - before) / (Number(throughput['bytes']) / 1e9);
    before = cpu();
    const connrate = await runLoadgen(loadgen, ['connrate', '--url', url, '--parallel', '8', '--seconds', String(seconds)], (seconds + 60) * 1000);
    const cpuMicrosPerConn = ((cpu() - before) / Number(connrate['connections'])) * 1e6;
    await new Promise((resolve) => setTimeout(resolve, 1000));
    const baseline = groupUsage(pgid).rssBytes;
    const held = await holdLoadgen(loadgen, ['idle', '--url', url, '--conns', String(idle)]);
    await new Promise((resolve) => setTimeout(resolve, 2000));
    const loaded = groupUsage(pgid).rssBytes;
    await held.release();
    return {
      engine,
      round,
      cpuPerGB,
      connsPerSecond: Number(connrate['conns_per_s']),
      cpuMicrosPerConn,
      kibPerIdleConnection: (loaded - baseline) / Number(held.first['open']) / 1024,
    };
  } finally {
    await started.stop();
  }
}

export async function jsEngineFigures(root: string, loadgen: string, echoPort: number, seconds: number, idle: number): Promise<EngineFigure[]> {
  const figures: EngineFigure[] = [];
  for (let round = 1; round <= ROUNDS; round++) {
    for (const engine of ['native', 'js'] as const) {
      process.stderr.write(`bench: jsengine round ${round}: ${engine}\n`);
      figures.push(await measureEngine(engine, round, root, loadgen, echoPort, seconds, idle));
    }
  }
  return figures;
}


export function formatJsEngineSection(figures: readonly EngineFigure[]): string {
  const rows = figures.map((f) => `| ${f.round} | ${f.engine} | ${f.cpuPerGB.toFixed(2)} | ${f.connsPerSecond.toFixed(0)} | ${f.cpuMicrosPerConn.toFixed(0)} | ${f.kibPerIdleConnection.toFixed(2)} |`);
  const ratios = (pick: (f: EngineFigure) => number): string => roundRatios(figures, (f) => f.engine === 'js', (f) => f.engine === 'native', pick);
  return [
    '## JS engine ÷ native engine (websocksy on both)',
    '',
    '| round | engine | CPU s/GB (16 × 4 KiB) | conn/s (8 parallel) | CPU µs/conn | KiB per idle connection |',
    '|---|---|---|---|---|---|',
    ...rows,
    '',
    `js ÷ native, per round: CPU/GB ${ratios((f) => f.cpuPerGB)}; conn/s ${ratios((f) => f.connsPerSecond)}; CPU/conn ${ratios((f) => f.cpuMicrosPerConn)}; KiB per idle connection ${ratios((f) => f.kibPerIdleConnection)}`,
    '',
  ].join('\n');
}
