/*
 * `BENCH_ONLY=startup`: how long websocksy takes to start, and its memory once it listens. Node
 * takes about a millisecond per module it loads, and a start is mostly that (docs/architecture.md,
 * "Loaded on demand"). Four commands, each run in turn by every subject, RUNS times in rounds
 * whose order flips each round:
 *   version   `websocksy --version`, run to its end;
 *   forward   `websocksy forward --help`, run to its end (the port-forwarding client's modules);
 *   bridge    `websocksy -p 0`, up to its `listening` line, then stopped;
 *   features  a configuration with metrics, a JWT section and an https:// route, likewise.
 * Figures: the median wall time, CPU time (user + system; for a command run to its end, what
 * this process reaped) and, for the two servers, RSS at the `listening` line. With
 * BENCH_BASELINE=DIR, the checkout built in DIR runs beside this one: its ratios are the change's.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { groupUsage, reapedChildrenSeconds, startProcess } from './processes.js';
import { median } from './rounds.js';
import { WEBSOCKSY } from './websocksy-command.js';

const RUNS = Number(process.env['BENCH_ROUNDS'] ?? 10);

const COMMANDS = ['version', 'forward', 'bridge', 'features'] as const;
type Command = (typeof COMMANDS)[number];

export interface StartUpFigure {
  readonly subject: string;
  readonly command: Command;
  readonly wallMs: number;
  readonly cpuMs: number;
  /** At the `listening` line; null for a command run to its end. */
  readonly rssMiB: number | null;
}

interface StartUpSubject {
  readonly name: string;
  readonly dir: string;
}

/** The configuration of the `features` command, in a folder of its own with the files it names. */
function featuresConfig(folder: string): string {
  writeFileSync(join(folder, 'hs.secret'), 'a-secret-of-thirty-two-bytes-or-more\n');
  writeFileSync(join(folder, 'status-token'), 'status-token-of-some-length-0123456789\n');
  const config = join(folder, 'features.cfg');
  writeFileSync(
    config,
    [
      '[core]', 'listen = 127.0.0.1', 'port = 0',
      '[status]', 'path = /status', 'metrics = /metrics', 'token-file = status-token',
      '[auth j]', 'type = jwt', 'algorithms = HS256', 'key = hs.secret',
      '[route /api]', 'to = https://127.0.0.1:9/', 'auth = j',
      '',
    ].join('\n'),
  );
  return config;
}

/** Runs a command to its end: wall and CPU milliseconds. */
async function runToEnd(dir: string, args: readonly string[]): Promise<{ wallMs: number; cpuMs: number }> {
  const reaped = reapedChildrenSeconds();
  const started = performance.now();
  const child = spawn(process.execPath, [...WEBSOCKSY, ...args], { cwd: dir, stdio: 'ignore' });
  const code = await new Promise<number | null>((resolve) => child.once('exit', (exitCode) => resolve(exitCode)));
  const wallMs = performance.now() - started;
  if (code !== 0) throw new Error(`startup: websocksy ${args.join(' ')} in ${dir} exited with ${String(code)}`);
  return { wallMs, cpuMs: (reapedChildrenSeconds() - reaped) * 1000 };
}

/** Starts a server up to its `listening` line: wall and CPU milliseconds, and RSS, then stops it. */
async function startToListening(dir: string, args: readonly string[]): Promise<{ wallMs: number; cpuMs: number; rssMiB: number }> {
  const started = performance.now();
  const server = await startProcess(process.execPath, [...WEBSOCKSY, ...args], /listening .*port=\d+/, dir);
  const wallMs = performance.now() - started;
  const usage = groupUsage(server.child.pid as number);
  await server.stop();
  return { wallMs, cpuMs: usage.cpuSeconds * 1000, rssMiB: usage.rssBytes / 1048576 };
}

async function measure(subject: StartUpSubject, command: Command, config: string): Promise<{ wallMs: number; cpuMs: number; rssMiB: number | null }> {
  if (command === 'version') return { ...(await runToEnd(subject.dir, ['--version'])), rssMiB: null };
  if (command === 'forward') return { ...(await runToEnd(subject.dir, ['forward', '--help'])), rssMiB: null };
  return startToListening(subject.dir, command === 'bridge' ? ['-l', '127.0.0.1', '-p', '0'] : [config]);
}

export async function startUpFigures(root: string): Promise<StartUpFigure[]> {
  const baselineDir = process.env['BENCH_BASELINE'];
  const subjects: StartUpSubject[] = [{ name: 'websocksy', dir: root }, ...(baselineDir ? [{ name: 'baseline', dir: baselineDir }] : [])];
  const folder = mkdtempSync(join(tmpdir(), 'websocksy-bench-startup-'));
  const runs = new Map<string, Array<{ wallMs: number; cpuMs: number; rssMiB: number | null }>>();
  try {
    const config = featuresConfig(folder);
    for (let round = 1; round <= RUNS; round++) {
      const order = round % 2 === 1 ? subjects : [...subjects].reverse();
      for (const command of COMMANDS) {
        for (const subject of order) {
          const key = `${subject.name}\0${command}`;
          const each = runs.get(key) ?? [];
          runs.set(key, each);
          each.push(await measure(subject, command, config));
        }
      }
    }
  } finally {
    rmSync(folder, { recursive: true, force: true });
  }
  return subjects.flatMap((subject) =>
    COMMANDS.map((command) => {
      const each = runs.get(`${subject.name}\0${command}`) ?? [];
      const rss = each.flatMap((run) => (run.rssMiB === null ? [] : [run.rssMiB]));
      return { subject: subject.name, command, wallMs: median(each.map((run) => run.wallMs)), cpuMs: median(each.map((run) => run.cpuMs)), rssMiB: rss.length === 0 ? null : median(rss) };
    }),
  );
}

export function formatStartUpSection(figures: readonly StartUpFigure[]): string {
  const baseline = (figure: StartUpFigure): StartUpFigure | undefined => figures.find((other) => other.subject === 'baseline' && other.command === figure.command);
  const lines = [
    `## Start-up (median of ${RUNS} runs each, subjects in turn)`,
    '',
    '| subject | command | wall ms | CPU ms | RSS MiB at listening | wall ÷ baseline | CPU ÷ baseline |',
    '|---|---|---|---|---|---|---|',
  ];
  for (const figure of figures) {
    const before = figure.subject === 'baseline' ? undefined : baseline(figure);
    const ratio = (over: number, under: number | undefined): string => (under === undefined ? '' : (over / under).toFixed(2));
    lines.push(
      `| ${figure.subject} | ${figure.command} | ${figure.wallMs.toFixed(0)} | ${figure.cpuMs.toFixed(0)} | ${figure.rssMiB === null ? '' : figure.rssMiB.toFixed(1)} | ${ratio(figure.wallMs, before?.wallMs)} | ${ratio(figure.cpuMs, before?.cpuMs)} |`,
    );
  }
  return lines.join('\n') + '\n';
}
