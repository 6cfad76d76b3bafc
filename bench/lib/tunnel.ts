/*
 * The tunnel workload: TCP echo throughput through a websocksy tunnel (a `websocksy forward -L`
 * client and a websocksy server, both on this machine) against the same echo peer reached
 * directly and through the WebSocket bridge (loadgen). One stream and 16 streams.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runLoadgen } from './loadgen.js';
import { groupUsage, startProcess } from './processes.js';
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

export async function tunnelFigures(root: string, loadgen: string, echoPort: number, seconds: number): Promise<TunnelFigure[]> {
  const dir = mkdtempSync(join(tmpdir(), 'websocksy-bench-'));
  const figures: TunnelFigure[] = [];
  const server = await startProcess(process.execPath, ['bin/websocksy', writeServerConfig(dir, echoPort)], /listening .*port=(\d+)/, root);
  const serverPort = Number(server.match[1]);
  const client = await startProcess(
    process.execPath,
    ['bin/websocksy', 'forward', '-L', `0:127.0.0.1:${echoPort}`, `ws://bench@127.0.0.1:${serverPort}/.tunnel`, '--token', 'bench-token'],
    /forwarding .*ports=(\d+)/,
    root,
  );
  const tunnelPort = Number(client.match[1]);
  const cpu = (): number => groupUsage(server.child.pid as number).cpuSeconds + groupUsage(client.child.pid as number).cpuSeconds;
  try {
    for (const streams of [1, 16]) {
      const direct = await tcpThroughput(echoPort, streams, SIZE, WINDOW, seconds);
      figures.push({ path: 'TCP direct', streams, mbPerSecond: direct.bytes / direct.seconds / 1e6, cpuPerGB: 0 });

      let before = cpu();
      const tunnel = await tcpThroughput(tunnelPort, streams, SIZE, WINDOW, seconds);
      figures.push({ path: 'TCP through the tunnel', streams, mbPerSecond: tunnel.bytes / tunnel.seconds / 1e6, cpuPerGB: (cpu() - before) / (tunnel.bytes / 1e9) });

      before = groupUsage(server.child.pid as number).cpuSeconds;
      const args = ['throughput', '--url', `ws://127.0.0.1:${serverPort}/`, '--conns', String(streams), '--size', String(SIZE), '--window', String(WINDOW), '--seconds', String(seconds)];
      const bridged = await runLoadgen(loadgen, args, (seconds + 60) * 1000);
      const bytes = Number(bridged['bytes']);
      const elapsed = Number(bridged['seconds'] ?? seconds);
      figures.push({ path: 'WebSocket through the bridge', streams, mbPerSecond: bytes / elapsed / 1e6, cpuPerGB: (groupUsage(server.child.pid as number).cpuSeconds - before) / (bytes / 1e9) });
    }
  } finally {
    await client.stop();
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
    '| streams | path | MB/s | CPU s/GB (websocksy processes) |',
    '|---|---|---|---|',
  ];
  for (const f of figures) lines.push(`| ${f.streams} | ${f.path} | ${f.mbPerSecond.toFixed(0)} | ${f.path === 'TCP direct' ? '–' : f.cpuPerGB.toFixed(2)} |`);
  return lines.join('\n') + '\n';
}
