/*
 * The scp workload (`BENCH_ONLY=scp`): the tunnel measured the way its issue first measured it,
 * with software nobody on this team wrote. OpenSSH's scp copies a 200 MiB file to a private sshd
 * (test/helpers/sshd.ts) three ways: straight to sshd, through `websocksy forward -L` (client
 * and server of this checkout, on this machine) and through socat (the relay anchor of the
 * tunnel workload). Every copy lands in a file that is compared with the original byte for byte.
 * The paths take turns, the order reversed every round, after one untimed copy each (the
 * tunnel's processes are fresh: V8 compiles their data path in the first seconds).
 *
 * CPU is the relay's alone: both websocksy processes for the tunnel, every socat process for
 * socat. OpenSSH's own encryption, on both ends, is the same for every path and not counted.
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SCP, SSHD, SSH_KEYGEN, startSshd } from '../../test/helpers/sshd.js';
import { groupUsage } from './processes.js';
import { socatBinary, startSocat } from './socat-anchor.js';
import { startTunnel, writeServerConfig } from './tunnel.js';

/** The issue's measurement: a copy of 200 MiB. */
const FILE_BYTES = 200 * 1024 * 1024;
const GIB = 1024 * 1024 * 1024;
/** The tunnel target's limit against socat, the same as the echo workload's. */
const TUNNEL_PER_SOCAT_LIMIT = 1.5;
/** A copy that takes longer than this has failed (200 MiB at under 2 MB/s). */
const COPY_TIMEOUT_MS = 120_000;

type ScpPath = 'straight to sshd' | 'through the tunnel' | 'through socat';

/** One path's copies so far. */
interface Totals {
  seconds: number;
  cpuSeconds: number;
  copies: number;
}

export interface ScpFigure {
  readonly path: ScpPath;
  readonly copies: number;
  /** MiB copied per second of scp's whole run (its login included), all copies together. */
  readonly mibPerSecond: number;
  /** The relay's CPU seconds per GiB copied (none straight to sshd). */
  readonly cpuPerGiB: number | null;
}

/** Why the workload cannot run here, or null. */
export function scpMissing(): string | null {
  if (SSHD === undefined || SCP === undefined || SSH_KEYGEN === undefined) return 'openssh-server and openssh-client are not installed (apt-get install openssh-server openssh-client)';
  return null;
}

/** One scp of `source` to `target` through `port`; resolves with its wall time, rejects with scp's words. */
function copy(port: number, options: readonly string[], source: string, target: string): Promise<number> {
  const started = process.hrtime.bigint();
  const child = spawn(SCP as string, ['-q', '-P', String(port), ...options, source, target], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const timer = setTimeout(() => child.kill('SIGKILL'), COPY_TIMEOUT_MS);
  return new Promise((resolve, reject) => {
    child.once('error', reject);
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      if (code === 0) resolve(Number(process.hrtime.bigint() - started) / 1e9);
      else reject(new Error(`scp through port ${port} failed (${signal ?? `exit ${code}`}): ${stderr.trim()}`));
    });
  });
}

export async function scpFigures(root: string, rounds: number): Promise<ScpFigure[]> {
  const socat = socatBinary();
  const dir = mkdtempSync(join(tmpdir(), 'websocksy-bench-scp-'));
  const stops: Array<() => Promise<void>> = [];
  try {
    const content = randomBytes(FILE_BYTES);
    const source = join(dir, 'source');
    const received = join(dir, 'received');
    writeFileSync(source, content);
    const sshd = await startSshd(dir);
    stops.push(() => sshd.stop());
    const tunnel = await startTunnel(root, writeServerConfig(dir, sshd.port), sshd.port);
    stops.push(() => tunnel.stop());
    const relay = await startSocat(socat, sshd.port, root);
    stops.push(() => relay.started.stop());
    const relayPid = relay.started.child.pid as number;
    const paths: ReadonlyArray<{ readonly path: ScpPath; readonly port: number; readonly cpu: () => number }> = [
      { path: 'straight to sshd', port: sshd.port, cpu: () => 0 },
      { path: 'through the tunnel', port: tunnel.port, cpu: tunnel.cpuSeconds },
      { path: 'through socat', port: relay.port, cpu: () => groupUsage(relayPid).cpuSeconds },
    ];
    const options = sshd.clientOptions();
    const target = `${sshd.user}@127.0.0.1:${received}`;
    const once = async (port: number): Promise<number> => {
      const seconds = await copy(port, options, source, target);
      const landed = readFileSync(received);
      rmSync(received);
      if (!landed.equals(content)) throw new Error(`scp through port ${port}: the copy (${landed.length} bytes) differs from the ${FILE_BYTES}-byte original`);
      return seconds;
    };
    for (const { port } of paths) await once(port);
    const totals = new Map<ScpPath, Totals>(paths.map(({ path }) => [path, { seconds: 0, cpuSeconds: 0, copies: 0 }]));
    for (let round = 1; round <= rounds; round++) {
      for (const { path, port, cpu } of round % 2 === 1 ? paths : [...paths].reverse()) {
        const before = cpu();
        const seconds = await once(port);
        // socat's per-connection child exits once both sockets closed; its parent reaps it and reports its CPU.
        await new Promise((resolve) => setTimeout(resolve, 200));
        const total = totals.get(path) as Totals;
        total.cpuSeconds += cpu() - before;
        total.seconds += seconds;
        total.copies++;
      }
    }
    return paths.map(({ path }) => {
      const total = totals.get(path) as Totals;
      const gib = (total.copies * FILE_BYTES) / GIB;
      return { path, copies: total.copies, mibPerSecond: (total.copies * FILE_BYTES) / (1024 * 1024) / total.seconds, cpuPerGiB: path === 'straight to sshd' ? null : total.cpuSeconds / gib };
    });
  } finally {
    for (const stop of stops.reverse()) await stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

export function formatScpSection(figures: readonly ScpFigure[]): string {
  const of = (path: ScpPath): ScpFigure | undefined => figures.find((f) => f.path === path);
  const socatCpu = of('through socat')?.cpuPerGiB ?? NaN;
  const directRate = of('straight to sshd')?.mibPerSecond ?? NaN;
  const lines = [
    `## scp of 200 MiB through the tunnel (OpenSSH, ${figures[0]?.copies ?? 0} copies per path)`,
    '',
    'Each copy checked byte for byte. CPU: the relay alone (both websocksy processes for the tunnel,',
    'every socat process for socat); OpenSSH\'s encryption is the same on every path and not counted.',
    '',
    '| path | MiB/s | ÷ straight | relay CPU s/GiB | ÷ socat |',
    '|---|---|---|---|---|',
  ];
  for (const f of figures) {
    const cpu = f.cpuPerGiB === null ? '–' : f.cpuPerGiB.toFixed(2);
    const ratio = f.cpuPerGiB === null ? '–' : (f.cpuPerGiB / socatCpu).toFixed(2);
    lines.push(`| ${f.path} | ${f.mibPerSecond.toFixed(0)} | ${(f.mibPerSecond / directRate).toFixed(2)} | ${cpu} | ${ratio} |`);
  }
  const tunnel = (of('through the tunnel')?.cpuPerGiB ?? NaN) / socatCpu;
  const verdict = Number.isFinite(tunnel) ? (tunnel <= TUNNEL_PER_SOCAT_LIMIT ? 'met' : 'MISSED') : 'n/a';
  lines.push('', `scp: the tunnel's relay CPU per GiB ÷ socat's ${tunnel.toFixed(2)} (target ≤ ${TUNNEL_PER_SOCAT_LIMIT}: ${verdict}).`);
  return lines.join('\n') + '\n';
}
