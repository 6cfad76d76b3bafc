/*
 * `BENCH_ONLY=relay`: what a relay between workers costs (docs/cluster.md). A websocksy server
 * with `workers = 2` and a [tunnel]; `websocksy forward -L` clients are started (and stopped
 * again) until one has reached the worker that owns the identity and one the other worker,
 * whose whole tunnel is then relayed over the loopback link to the owner. TCP echo throughput
 * through each client's forward, 1 and 16 streams, each measured twice in opposite orders, with
 * the CPU of the whole server (primary and workers) and of the client per GB.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { groupUsage, startProcess, treeUsage, type Started } from './processes.js';
import { tcpThroughput } from './tcp-throughput.js';
import { WEBSOCKSY } from './websocksy-command.js';

export interface RelayFigure {
  readonly path: 'direct to the owner' | 'relayed by the other worker';
  readonly streams: number;
  readonly mbPerSecond: number;
  readonly cpuPerGB: number;
}

const SIZE = 65536;
const WINDOW = 8;
/** Clients started before both kinds are found: each lands on either worker with a chance of one in two. */
const MAX_ATTEMPTS = 20;

const RELAYED = /tunnel relayed worker=\d .*identity=bench/g;

function writeConfig(dir: string, echoPort: number): string {
  writeFileSync(join(dir, 'identities'), `bench bench-token connect=127.0.0.1:${echoPort}\n`);
  const config = join(dir, 'server.cfg');
  writeFileSync(config, `[core]\nlisten = 127.0.0.1\nport = 0\nping = 0\nworkers = 2\n[tunnel]\nidentities = ${join(dir, 'identities')}\n`);
  return config;
}

/** Starts forward clients until one went straight to the owner and one was relayed; stops the rest. */
async function clientsOfBothKinds(root: string, server: Started, logFile: () => string, echoPort: number): Promise<Map<RelayFigure['path'], Started>> {
  const url = `ws://bench@127.0.0.1:${Number(server.match[1])}/.tunnel`;
  const found = new Map<RelayFigure['path'], Started>();
  for (let attempt = 0; attempt < MAX_ATTEMPTS && found.size < 2; attempt++) {
    const before = logFile().match(RELAYED)?.length ?? 0;
    const client = await startProcess(process.execPath, [...WEBSOCKSY, 'forward', '-L', `0:127.0.0.1:${echoPort}`, url, '--token', 'bench-token'], /tunnel up/, root);
    // The relay is logged before the owner answers the hello, so before the client is up.
    const kind = (logFile().match(RELAYED)?.length ?? 0) > before ? 'relayed by the other worker' : 'direct to the owner';
    if (found.has(kind)) await client.stop();
    else found.set(kind, client);
  }
  if (found.size < 2) throw new Error(`bench relay: ${MAX_ATTEMPTS} clients did not reach both workers`);
  return found;
}

export async function relayFigures(root: string, echoPort: number, seconds: number): Promise<RelayFigure[]> {
  const dir = mkdtempSync(join(tmpdir(), 'websocksy-bench-relay-'));
  const log = join(dir, 'server.log');
  const server = await startProcess(process.execPath, [...WEBSOCKSY, writeConfig(dir, echoPort)], /cluster listening workers=2 port=(\d+)/, root, 20_000, process.env, log);
  const figures: RelayFigure[] = [];
  let clients = new Map<RelayFigure['path'], Started>();
  try {
    clients = await clientsOfBothKinds(root, server, () => readFileSync(log, 'utf8'), echoPort);
    const forwardPort = (client: Started): number => Number(/ports=(\d+)/.exec(client.output())?.[1]);
    for (const streams of [1, 16]) {
      const totals = new Map<RelayFigure['path'], { bytes: number; seconds: number; cpu: number }>();
      const order = [...clients];
      for (const round of [order, [...order].reverse()]) {
        for (const [path, client] of round) {
          const cpu = (): number => treeUsage(server.child.pid as number).cpuSeconds + groupUsage(client.child.pid as number).cpuSeconds;
          const before = cpu();
          const result = await tcpThroughput(forwardPort(client), streams, SIZE, WINDOW, seconds / 2);
          const total = totals.get(path) ?? { bytes: 0, seconds: 0, cpu: 0 };
          totals.set(path, { bytes: total.bytes + result.bytes, seconds: total.seconds + result.seconds, cpu: total.cpu + cpu() - before });
        }
      }
      for (const [path, total] of totals) figures.push({ path, streams, mbPerSecond: total.bytes / total.seconds / 1e6, cpuPerGB: total.cpu / (total.bytes / 1e9) });
    }
  } finally {
    for (const client of clients.values()) await client.stop();
    await server.stop();
    rmSync(dir, { recursive: true, force: true });
  }
  return figures;
}

export function formatRelaySection(figures: readonly RelayFigure[]): string {
  const lines = [
    '## Relay between workers: TCP echo through a tunnel whose client reached the owner, or the other worker (64 KiB writes, 8 in flight per stream)',
    '',
    'workers = 2; each path measured twice per stream count, in opposite orders. CPU: the server (primary and both workers) and the client.',
    '',
    '| streams | path | MB/s | CPU s/GB | ÷ direct (CPU) |',
    '|---|---|---|---|---|',
  ];
  for (const f of figures) {
    const direct = figures.find((g) => g.streams === f.streams && g.path === 'direct to the owner')?.cpuPerGB ?? NaN;
    lines.push(`| ${f.streams} | ${f.path} | ${f.mbPerSecond.toFixed(0)} | ${f.cpuPerGB.toFixed(2)} | ${(f.cpuPerGB / direct).toFixed(2)} |`);
  }
  return lines.join('\n') + '\n';
}
