/*
 * The sessions workload (docs/sessions.md): what a resumable session costs against the plain
 * bridge, with loadgen driving both the same way (`--session` only adds the records, the ACKs
 * and the window). Throughput runs against one websocksy whose peer is resumable, so the plain
 * and the session clients meet the same process: each cell is measured twice, in opposite
 * orders, half the time each. Memory and resume each get a fresh websocksy, so that one
 * figure's sessions (kept for their grace period) do not weigh on the next.
 */
import { holdLoadgen, runLoadgen } from './loadgen.js';
import { groupUsage, startProcess, type Started } from './processes.js';
import { WEBSOCKSY } from './websocksy-command.js';

/** Idle connections or sessions per memory figure: at 1000 the figure moved by ±4 KiB from run to run. */
const HELD = 4000;
/** Sessions resumed one after another. */
const RESUMED = 1000;
const CELLS: ReadonlyArray<{ conns: number; size: number; window: number }> = [
  { conns: 16, size: 4096, window: 32 },
  { conns: 16, size: 65536, window: 8 },
  { conns: 1, size: 64, window: 32 },
];
/** Echoed bytes a resumed session replays: 16 messages of 64 KiB, or none (the fixed cost). */
const REPLAYS: ReadonlyArray<{ size: number; count: number }> = [
  { size: 65536, count: 0 },
  { size: 65536, count: 16 },
];

export interface SessionThroughput {
  readonly cell: string;
  readonly client: 'plain' | 'session';
  readonly messages: number;
  readonly bytes: number;
  readonly seconds: number;
  readonly cpuSeconds: number;
}

export interface SessionMemory {
  readonly what: string;
  readonly count: number;
  readonly baselineRss: number;
  readonly loadedRss: number;
  /** Data each one holds unacknowledged. */
  readonly buffered: number;
}

export interface ResumeFigure {
  readonly replayBytes: number;
  readonly sessions: number;
  readonly seconds: number;
  readonly p50Us: number;
  readonly p99Us: number;
  readonly maxUs: number;
  readonly cpuSeconds: number;
  /** The server's RSS with every session detached and holding its replay, and before they were made. */
  readonly detachedRss: number;
  readonly baselineRss: number;
}

export interface SessionFigures {
  readonly throughput: SessionThroughput[];
  readonly memory: SessionMemory[];
  readonly resume: ResumeFigure[];
}

interface Server {
  readonly started: Started;
  readonly url: string;
  cpu(): number;
  rss(): number;
}

async function startServer(root: string, echoPort: number): Promise<Server> {
  const started = await startProcess(
    process.execPath,
    [...WEBSOCKSY, '-l', '127.0.0.1', '-p', '0', '-k', '0', '--session-limit', String(HELD), '-c', `host=tcp://127.0.0.1:${echoPort}`, '-c', 'framing=binary', '-c', 'resumable=yes'],
    /listening .*port=(\d+)/,
    root,
  );
  const pgid = started.child.pid as number;
  return { started, url: `ws://127.0.0.1:${String(started.match[1])}/`, cpu: () => groupUsage(pgid).cpuSeconds, rss: () => groupUsage(pgid).rssBytes };
}

async function withServer<T>(root: string, echoPort: number, body: (server: Server) => Promise<T>): Promise<T> {
  const server = await startServer(root, echoPort);
  try {
    return await body(server);
  } finally {
    await server.started.stop();
  }
}

const settle = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

async function throughputFigures(server: Server, loadgen: string, seconds: number): Promise<SessionThroughput[]> {
  const figures: SessionThroughput[] = [];
  for (const { conns, size, window } of CELLS) {
    const cell = `${conns}x${size}`;
    const sums = { plain: { messages: 0, bytes: 0, seconds: 0, cpuSeconds: 0 }, session: { messages: 0, bytes: 0, seconds: 0, cpuSeconds: 0 } };
    for (const order of [['plain', 'session'], ['session', 'plain']] as const) {
      for (const client of order) {
        const args = ['throughput', '--url', server.url, '--conns', String(conns), '--size', String(size), '--window', String(window), '--seconds', String(seconds / 2)];
        const before = server.cpu();
        const result = await runLoadgen(loadgen, client === 'session' ? [...args, '--session'] : args, (seconds + 60) * 1000);
        const sum = sums[client];
        sum.cpuSeconds += server.cpu() - before;
        sum.messages += Number(result['messages']);
        sum.bytes += Number(result['bytes']);
        sum.seconds += Number(result['seconds']);
      }
    }
    figures.push({ cell, client: 'plain', ...sums.plain }, { cell, client: 'session', ...sums.session });
  }
  return figures;
}

/** RSS of a fresh websocksy before and 2 s after `args` opened its connections or sessions. */
async function memoryFigure(root: string, loadgen: string, echoPort: number, what: string, args: readonly string[], buffered: number): Promise<SessionMemory> {
  return withServer(root, echoPort, async (server) => {
    await settle(1000); // start-up garbage, as in the idle workload
    const baselineRss = server.rss();
    const held = await holdLoadgen(loadgen, ['idle', '--url', server.url, '--conns', String(HELD), ...args]);
    await settle(2000);
    const loadedRss = server.rss();
    await held.release();
    return { what, count: Number(held.first['open']), baselineRss, loadedRss, buffered };
  });
}

async function resumeFigure(root: string, loadgen: string, echoPort: number, size: number, count: number): Promise<ResumeFigure> {
  return withServer(root, echoPort, async (server) => {
    await settle(1000);
    const baselineRss = server.rss();
    const held = await holdLoadgen(loadgen, ['resume', '--url', server.url, '--conns', String(RESUMED), '--size', String(size), '--count', String(count)]);
    await settle(1000);
    const detachedRss = server.rss();
    const before = server.cpu();
    const result = await held.release();
    return {
      replayBytes: size * count,
      sessions: Number(result['sessions']),
      seconds: Number(result['seconds']),
      p50Us: Number(result['p50_us']),
      p99Us: Number(result['p99_us']),
      maxUs: Number(result['max_us']),
      cpuSeconds: server.cpu() - before,
      detachedRss,
      baselineRss,
    };
  });
}

export async function sessionFigures(root: string, loadgen: string, echoPort: number, seconds: number): Promise<SessionFigures> {
  const throughput = await withServer(root, echoPort, (server) => throughputFigures(server, loadgen, seconds));
  const memory: SessionMemory[] = [];
  memory.push(await memoryFigure(root, loadgen, echoPort, 'plain bridged connections, idle', [], 0));
  memory.push(await memoryFigure(root, loadgen, echoPort, 'sessions attached, idle (echo acknowledged)', ['--session'], 0));
  memory.push(await memoryFigure(root, loadgen, echoPort, 'sessions detached, nothing buffered', ['--session', '--detach', 'acked'], 0));
  memory.push(await memoryFigure(root, loadgen, echoPort, 'sessions detached, 64 KiB unacknowledged each', ['--session', '--detach', 'unacked', '--size', '65536'], 65536));
  const resume: ResumeFigure[] = [];
  for (const { size, count } of REPLAYS) resume.push(await resumeFigure(root, loadgen, echoPort, size, count));
  return { throughput, memory, resume };
}

const fixed = (value: number, digits = 2): string => (Number.isFinite(value) ? value.toFixed(digits) : 'n/a');

function throughputTable(figures: readonly SessionThroughput[]): string[] {
  const perGB = (f: SessionThroughput): number => f.cpuSeconds / (f.bytes / 1e9);
  const perMmsg = (f: SessionThroughput): number => f.cpuSeconds / (f.messages / 1e6);
  const lines = ['| conns × size | client | msgs/s | MB/s | CPU s/GB | CPU s/Mmsg | session ÷ plain: CPU/GB, msgs/s |', '|---|---|---|---|---|---|---|'];
  for (const f of figures) {
    const plain = figures.find((p) => p.cell === f.cell && p.client === 'plain');
    const ratio = f.client === 'session' && plain !== undefined ? `${fixed(perGB(f) / perGB(plain))}, ${fixed(f.messages / f.seconds / (plain.messages / plain.seconds))}` : '';
    lines.push(`| ${f.cell.replace('x', ' × ')} B | ${f.client} | ${fixed(f.messages / f.seconds, 0)} | ${fixed(f.bytes / f.seconds / 1e6, 1)} | ${fixed(perGB(f))} | ${fixed(perMmsg(f))} | ${ratio} |`);
  }
  return lines;
}

function memoryTable(figures: readonly SessionMemory[]): string[] {
  const perOne = (f: SessionMemory): number => (f.loadedRss - f.baselineRss) / f.count / 1024;
  const plain = figures[0];
  const lines = ['| what | count | RSS before MiB | RSS after MiB | KiB each | KiB each beyond its buffered data | ÷ plain |', '|---|---|---|---|---|---|---|'];
  for (const f of figures) {
    const ratio = plain === undefined || f === plain ? '' : fixed(perOne(f) / perOne(plain));
    lines.push(`| ${f.what} | ${f.count} | ${fixed(f.baselineRss / 1048576, 1)} | ${fixed(f.loadedRss / 1048576, 1)} | ${fixed(perOne(f))} | ${fixed(perOne(f) - f.buffered / 1024)} | ${ratio} |`);
  }
  return lines;
}

function resumeTable(figures: readonly ResumeFigure[]): string[] {
  const lines = ['| replay | sessions | seconds | resumes/s | p50 µs | p99 µs | max µs | CPU ms per resume | RSS detached MiB (before) |', '|---|---|---|---|---|---|---|---|---|'];
  for (const f of figures) {
    lines.push(
      `| ${f.replayBytes / 1024} KiB | ${f.sessions} | ${fixed(f.seconds)} | ${fixed(f.sessions / f.seconds, 0)} | ${fixed(f.p50Us, 0)} | ${fixed(f.p99Us, 0)} | ${fixed(f.maxUs, 0)} | ${fixed((f.cpuSeconds / f.sessions) * 1000, 3)} | ${fixed(f.detachedRss / 1048576, 0)} (${fixed(f.baselineRss / 1048576, 0)}) |`,
    );
  }
  return lines;
}

export function formatSessionsSection(figures: SessionFigures): string {
  return [
    '## Resumable sessions against the plain bridge',
    '',
    'Throughput: the same websocksy and the same loadgen, plain and `--session`, each cell twice in opposite orders; every echoed byte checked. CPU is websocksy\'s.',
    '',
    ...throughputTable(figures.throughput),
    '',
    `Memory: ${HELD} of each against a fresh websocksy, RSS 2 s after the last was opened (or detached).`,
    '',
    ...memoryTable(figures.memory),
    '',
    `Resume: ${RESUMED} detached sessions resumed one after another (connect, HELLO, WELCOME, the replay checked, an ACK, a close that detaches again); time per resume from connect to the replay's last byte, CPU over all of them.`,
    '',
    ...resumeTable(figures.resume),
  ].join('\n') + '\n';
}
