/*
 * The tunnel workload: TCP echo throughput through a websocksy tunnel (a `websocksy forward -L`
 * client and a websocksy server, both on this machine) against the same echo peer reached
 * directly and through the WebSocket bridge (loadgen). One stream and 16 streams.
 * The client runs in each way it may mask its frames, side by side: the former all-zero key
 * (bench/anchors/zero-mask.cjs), random keys XORed in JavaScript (`WS_NO_BUFFER_UTIL`), and
 * random keys XORed by `bufferutil` when it is installed. Each is measured twice, in opposite
 * orders, so that a machine getting busier or quieter does not favour one of them.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runLoadgen } from './loadgen.js';
import { groupUsage, startProcess, type Started } from './processes.js';
import { tcpThroughput } from './tcp-throughput.js';

export interface TunnelFigure {
  readonly path: string;
  readonly streams: number;
  readonly mbPerSecond: number;
  /** CPU seconds per GB of the websocksy processes involved (0 for direct TCP). */
  readonly cpuPerGB: number;
}

const SIZE = 65536;
const WINDOW = 8;

interface ClientVariant {
  readonly name: string;
  readonly nodeArgs: readonly string[];
  readonly env: NodeJS.ProcessEnv;
}

function hasBufferutil(): boolean {
  try {
    createRequire(import.meta.url).resolve('bufferutil');
    return true;
  } catch {
    return false;
  }
}

function clientVariants(): ClientVariant[] {
  const javascript = { ...process.env, WS_NO_BUFFER_UTIL: '1' };
  const { WS_NO_BUFFER_UTIL: _ignored, ...native } = process.env;
  const variants: ClientVariant[] = [
    { name: 'zero mask', nodeArgs: ['--require', './bench/anchors/zero-mask.cjs'], env: javascript },
    { name: 'random mask, JS', nodeArgs: [], env: javascript },
  ];
  if (hasBufferutil()) variants.push({ name: 'random mask, bufferutil', nodeArgs: [], env: native });
  else process.stderr.write('bench: bufferutil is not installed: the tunnel runs without it\n');
  return variants;
}

interface Running {
  readonly variant: ClientVariant;
  readonly client: Started;
  readonly port: number;
  bytes: number;
  seconds: number;
  cpuSeconds: number;
}

export async function tunnelFigures(root: string, loadgen: string, echoPort: number, seconds: number): Promise<TunnelFigure[]> {
  const dir = mkdtempSync(join(tmpdir(), 'websocksy-bench-'));
  const figures: TunnelFigure[] = [];
  const server = await startProcess(process.execPath, ['bin/websocksy', writeServerConfig(dir, echoPort)], /listening .*port=(\d+)/, root);
  const serverPort = Number(server.match[1]);
  const clients: Running[] = [];
  const serverCpu = (): number => groupUsage(server.child.pid as number).cpuSeconds;
  try {
    for (const variant of clientVariants()) {
      const client = await startProcess(
        process.execPath,
        [...variant.nodeArgs, 'bin/websocksy', 'forward', '-L', `0:127.0.0.1:${echoPort}`, `ws://bench@127.0.0.1:${serverPort}/.tunnel`, '--token', 'bench-token'],
        /forwarding .*ports=(\d+)/,
        root,
        15_000,
        variant.env,
      );
      clients.push({ variant, client, port: Number(client.match[1]), bytes: 0, seconds: 0, cpuSeconds: 0 });
    }
    for (const streams of [1, 16]) {
      const direct = await tcpThroughput(echoPort, streams, SIZE, WINDOW, seconds);
      figures.push({ path: 'TCP direct', streams, mbPerSecond: direct.bytes / direct.seconds / 1e6, cpuPerGB: 0 });

      for (const running of clients) Object.assign(running, { bytes: 0, seconds: 0, cpuSeconds: 0 });
      for (const order of [clients, [...clients].reverse()]) {
        for (const running of order) {
          const cpu = (): number => serverCpu() + groupUsage(running.client.child.pid as number).cpuSeconds;
          const before = cpu();
          const result = await tcpThroughput(running.port, streams, SIZE, WINDOW, seconds / 2);
          running.cpuSeconds += cpu() - before;
          running.bytes += result.bytes;
          running.seconds += result.seconds;
        }
      }
      for (const running of clients) {
        figures.push({ path: `TCP through the tunnel (${running.variant.name})`, streams, mbPerSecond: running.bytes / running.seconds / 1e6, cpuPerGB: running.cpuSeconds / (running.bytes / 1e9) });
      }

      const before = serverCpu();
      const args = ['throughput', '--url', `ws://127.0.0.1:${serverPort}/`, '--conns', String(streams), '--size', String(SIZE), '--window', String(WINDOW), '--seconds', String(seconds)];
      const bridged = await runLoadgen(loadgen, args, (seconds + 60) * 1000);
      const bytes = Number(bridged['bytes']);
      const elapsed = Number(bridged['seconds'] ?? seconds);
      figures.push({ path: 'WebSocket through the bridge', streams, mbPerSecond: bytes / elapsed / 1e6, cpuPerGB: (serverCpu() - before) / (bytes / 1e9) });
    }
  } finally {
    for (const { client } of clients) await client.stop();
    await server.stop();
    rmSync(dir, { recursive: true, force: true });
  }
  return figures;
}

function writeServerConfig(dir: string, echoPort: number): string {
  writeFileSync(join(dir, 'identities'), `bench bench-token connect=127.0.0.1:${echoPort}\n`);
  const config = join(dir, 'server.cfg');
  writeFileSync(config, `[core]\nlisten = 127.0.0.1\nport = 0\nping = 0\n[backend]\nhost = tcp://127.0.0.1:${echoPort}\nframing = binary\n[tunnel]\nidentities = ${join(dir, 'identities')}\n`);
  return config;
}

export function formatTunnelSection(figures: readonly TunnelFigure[]): string {
  const lines = [
    '## Tunnel: TCP echo through a websocksy tunnel (64 KiB writes, 8 in flight per stream)',
    '',
    'The tunnel client masks its frames three ways, each measured twice in opposite orders.',
    '',
    '| streams | path | MB/s | CPU s/GB (websocksy processes) |',
    '|---|---|---|---|',
  ];
  for (const f of figures) lines.push(`| ${f.streams} | ${f.path} | ${f.mbPerSecond.toFixed(0)} | ${f.path === 'TCP direct' ? '–' : f.cpuPerGB.toFixed(2)} |`);
  return lines.join('\n') + '\n';
}
