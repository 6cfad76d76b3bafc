/*
 * The tunnel workload: TCP echo throughput through a websocksy tunnel (a `websocksy forward -L`
 * client and a websocksy server, both on this machine) against the same echo peer reached
 * directly, through socat (the relay anchor: plain TCP forwarding, one more hop than direct) and
 * through the WebSocket bridge (loadgen). One stream and 16 streams. Every path is measured
 * twice, in opposite orders, so that a machine getting busier or quieter favours none of them,
 * after `warmupSeconds` of untimed 16-stream load each (the server and client are fresh: V8
 * compiles their data paths in the first seconds, as in the framing and routes workloads).
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runLoadgen } from './loadgen.js';
import { groupUsage, startProcess, type Started } from './processes.js';
import { startSocat, socatBinary } from './socat-anchor.js';
import { tcpThroughput } from './tcp-throughput.js';
import { WEBSOCKSY } from './websocksy-command.js';

export interface TunnelFigure {
  readonly path: string;
  readonly streams: number;
  readonly mbPerSecond: number;
  /** CPU seconds per GB of the processes involved (0 for direct TCP). */
  readonly cpuPerGB: number;
}

const SIZE = 65536;
const WINDOW = 8;

/** One path under measurement; its totals add up over the interleaved rounds. */
interface Subject {
  readonly path: string;
  measure(streams: number, seconds: number): Promise<{ bytes: number; seconds: number; cpuSeconds: number }>;
}

interface Totals {
  bytes: number;
  seconds: number;
  cpuSeconds: number;
}

/** A TCP port measured with the harness's own client; `cpu` reads the processes that carry it. */
function tcpSubject(path: string, port: number, cpu: () => number): Subject {
  return {
    path,
    async measure(streams, seconds) {
      const before = cpu();
      const result = await tcpThroughput(port, streams, SIZE, WINDOW, seconds);
      // socat's per-connection children exit once the sockets close; let them be counted.
      await new Promise((resolve) => setTimeout(resolve, 200));
      return { bytes: result.bytes, seconds: result.seconds, cpuSeconds: cpu() - before };
    },
  };
}

const usage = (started: Started): number => groupUsage(started.child.pid as number).cpuSeconds;

async function startServer(root: string, config: string): Promise<Started> {
  return startProcess(process.execPath, [...WEBSOCKSY, config], /listening .*port=(\d+)/, root);
}

async function startClient(root: string, server: Started, targetPort: number): Promise<Started> {
  const url = `ws://bench@127.0.0.1:${Number(server.match[1])}/.tunnel`;
  return startProcess(process.execPath, [...WEBSOCKSY, 'forward', '-L', `0:127.0.0.1:${targetPort}`, url, '--token', 'bench-token'], /forwarding .*ports=(\d+)/, root);
}

/** A websocksy tunnel server and a `forward -L` client of the checkout at `root`, to 127.0.0.1:`targetPort`. */
export interface RunningTunnel {
  readonly server: Started;
  readonly client: Started;
  /** The client's local port. */
  readonly port: number;
  /** CPU seconds of both ends so far. */
  cpuSeconds(): number;
  stop(): Promise<void>;
}

/** Starts a tunnel (server first, then its client) with `config` (writeServerConfig). */
export async function startTunnel(root: string, config: string, targetPort: number): Promise<RunningTunnel> {
  const server = await startServer(root, config);
  try {
    const client = await startClient(root, server, targetPort);
    return {
      server,
      client,
      port: Number(client.match[1]),
      cpuSeconds: () => usage(server) + usage(client),
      stop: async () => {
        await client.stop();
        await server.stop();
      },
    };
  } catch (error) {
    await server.stop();
    throw error;
  }
}

/**
 * BENCH_TUNNEL_BASELINE=DIR (another built checkout, e.g. main's) adds its server and client as
 * one more subject, interleaved with the rest: before and after from the same run.
 */
export async function tunnelFigures(root: string, loadgen: string, echoPort: number, seconds: number, warmupSeconds: number): Promise<TunnelFigure[]> {
  const socat = socatBinary();
  const baseline = process.env['BENCH_TUNNEL_BASELINE'];
  const dir = mkdtempSync(join(tmpdir(), 'websocksy-bench-'));
  const config = writeServerConfig(dir, echoPort);
  const figures: TunnelFigure[] = [];
  const started: RunningTunnel[] = [];
  const relay = await startSocat(socat, echoPort, root);
  try {
    const subjects: Subject[] = [];
    const tunnel = await startTunnel(root, config, echoPort);
    started.push(tunnel);
    const serverPort = Number(tunnel.server.match[1]);
    subjects.push(tcpSubject('TCP through the tunnel', tunnel.port, tunnel.cpuSeconds));
    if (baseline !== undefined) {
      const base = await startTunnel(baseline, config, echoPort);
      started.push(base);
      subjects.push(tcpSubject(`TCP through the tunnel (baseline ${baseline})`, base.port, base.cpuSeconds));
    }
    subjects.push(tcpSubject('TCP through socat', relay.port, () => usage(relay.started)));
    subjects.push({
      path: 'WebSocket through the bridge',
      async measure(streams, part) {
        const server = tunnel.server;
        const before = usage(server);
        const args = ['throughput', '--url', `ws://127.0.0.1:${serverPort}/`, '--conns', String(streams), '--size', String(SIZE), '--window', String(WINDOW), '--seconds', String(part)];
        const result = await runLoadgen(loadgen, args, (part + 60) * 1000);
        return { bytes: Number(result['bytes']), seconds: Number(result['seconds'] ?? part), cpuSeconds: usage(server) - before };
      },
    });
    if (warmupSeconds > 0) for (const subject of subjects) await subject.measure(16, warmupSeconds);
    for (const streams of [1, 16]) {
      const direct = await tcpThroughput(echoPort, streams, SIZE, WINDOW, seconds);
      figures.push({ path: 'TCP direct', streams, mbPerSecond: direct.bytes / direct.seconds / 1e6, cpuPerGB: 0 });
      const totals = new Map<Subject, Totals>(subjects.map((subject) => [subject, { bytes: 0, seconds: 0, cpuSeconds: 0 }]));
      // Twice, in opposite orders, so that a machine getting busier or quieter favours none.
      for (const order of [subjects, [...subjects].reverse()]) {
        for (const subject of order) {
          const result = await subject.measure(streams, seconds / 2);
          const total = totals.get(subject) as Totals;
          total.bytes += result.bytes;
          total.seconds += result.seconds;
          total.cpuSeconds += result.cpuSeconds;
        }
      }
      for (const [subject, total] of totals) {
        figures.push({ path: subject.path, streams, mbPerSecond: total.bytes / total.seconds / 1e6, cpuPerGB: total.cpuSeconds / (total.bytes / 1e9) });
      }
    }
  } finally {
    for (const each of started.reverse()) await each.stop();
    await relay.started.stop();
    rmSync(dir, { recursive: true, force: true });
  }
  return figures;
}

/**
 * The server's config in `dir`: the bridge to 127.0.0.1:`targetPort` (binary framing) and a
 * tunnel whose one identity (`bench`, token `bench-token`) may connect there.
 */
export function writeServerConfig(dir: string, targetPort: number): string {
  writeFileSync(join(dir, 'identities'), `bench bench-token connect=127.0.0.1:${targetPort}\n`);
  const config = join(dir, 'server.cfg');
  writeFileSync(config, `[core]\nlisten = 127.0.0.1\nport = 0\nping = 0\n[backend]\nhost = tcp://127.0.0.1:${targetPort}\nframing = binary\n[tunnel]\nidentities = ${join(dir, 'identities')}\n`);
  return config;
}

export function formatTunnelSection(figures: readonly TunnelFigure[]): string {
  const lines = [
    '## Tunnel: TCP echo through a websocksy tunnel (64 KiB writes, 8 in flight per stream)',
    '',
    'Each path measured twice per stream count, in opposite orders. CPU: both websocksy processes',
    'for the tunnel, the server for the bridge, every socat process for socat.',
    '',
    '| streams | path | MB/s | CPU s/GB | ÷ bridge | ÷ socat |',
    '|---|---|---|---|---|---|',
  ];
  for (const f of figures) {
    const anchor = (path: string): number => figures.find((g) => g.streams === f.streams && g.path === path)?.cpuPerGB ?? NaN;
    const ratio = (path: string): string => (f.path === 'TCP direct' ? '–' : (f.cpuPerGB / anchor(path)).toFixed(2));
    lines.push(`| ${f.streams} | ${f.path} | ${f.mbPerSecond.toFixed(0)} | ${f.path === 'TCP direct' ? '–' : f.cpuPerGB.toFixed(2)} | ${ratio('WebSocket through the bridge')} | ${ratio('TCP through socat')} |`);
  }
  return lines.join('\n') + '\n';
}
