/*
 * The bridges measured side by side: websocksy and the anchors a user would pick instead.
 * Each starts on an OS-chosen (or probed) port in front of the same echo peer.
 */
import { spawnSync } from 'node:child_process';
import { createServer } from 'node:net';
import { groupUsage, startProcess, type GroupUsage, type Started } from './processes.js';
import { WEBSOCKSY } from './websocksy-command.js';

export interface RunningSubject {
  readonly url: string;
  /** The process started (the leader of its process group). */
  readonly pid: number;
  usage(): GroupUsage;
  stop(): Promise<void>;
}

export interface Subject {
  readonly name: string;
  /** What it is, for the report. */
  readonly description: string;
  /** Why this subject cannot run on this machine, or null when it can. */
  missing(): string | null;
  start(echoPort: number): Promise<RunningSubject>;
}

async function freePort(): Promise<number> {
  const probe = createServer();
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
  const port = (probe.address() as { port: number }).port;
  await new Promise((resolve) => probe.close(resolve));
  return port;
}

function running(started: Started, port: number, path = '/'): RunningSubject {
  const pgid = started.child.pid as number;
  return { url: `ws://127.0.0.1:${port}${path}`, pid: pgid, usage: () => groupUsage(pgid), stop: () => started.stop() };
}

/** Framing configs for the benchmark's line-of-digits stream (see loadgen --digits). */
const FRAMING_CONFIG: Readonly<Record<string, readonly string[]>> = { newline: ['-c', 'framing-config=lf'] };

/** The C framing plugins `make` builds: loaded from there, they replace the TS builtins. */
const C_PLUGINS = 'build/plugins';

/**
 * websocksy's command line as a bridge subject: on a port of its own, no pings, the defaultpeer
 * backend to the echo peer with `framing` (the C plugin's when `cPlugin`).
 */
export function websocksyArgs(echoPort: number, framing: string, cPlugin = false): string[] {
  const plugins = cPlugin ? ['-P', C_PLUGINS] : [];
  return [...WEBSOCKSY, '-l', '127.0.0.1', '-p', '0', '-k', '0', ...plugins, '-c', `host=tcp://127.0.0.1:${echoPort}`, '-c', `framing=${framing}`, ...(FRAMING_CONFIG[framing] ?? [])];
}

function websocksy(framing: string, root: string, cPlugin = false, name?: string): Subject {
  return {
    name: name ?? (framing === 'binary' ? 'websocksy' : `websocksy-${cPlugin ? 'c-' : ''}${framing}`),
    description: `websocksy, defaultpeer backend, ${framing} framing${cPlugin ? ` from the C plugin (${C_PLUGINS})` : ''}`,
    missing: () => null,
    start: async (echoPort) => {
      const started = await startProcess(process.execPath, websocksyArgs(echoPort, framing, cPlugin), /listening .*port=(\d+)/, root);
      return running(started, Number(started.match[1]));
    },
  };
}

function anchor(name: string, script: string, description: string, root: string): Subject {
  return {
    name,
    description,
    missing: () => null,
    start: async (echoPort) => {
      const started = await startProcess(process.execPath, [script, '0', '127.0.0.1', String(echoPort)], /listening (\d+)/, root);
      return running(started, Number(started.match[1]));
    },
  };
}

const websockifyPath = ['/usr/bin/websockify', '/usr/local/bin/websockify'].find((path) => spawnSync(path, ['--help']).status === 0);

const websockify: Subject = {
  name: 'websockify',
  description: 'websockify from Debian (Python)',
  missing: () => (websockifyPath === undefined ? 'websockify is not installed (apt-get install websockify)' : null),
  start: async (echoPort) => {
    if (websockifyPath === undefined) throw new Error('websockify is not installed (apt-get install websockify)');
    const port = await freePort();
    const started = await startProcess(websockifyPath, [`127.0.0.1:${port}`, `127.0.0.1:${echoPort}`], /Listen on|proxying from/i, '/');
    return running(started, port);
  },
};

/**
 * `BENCH_BASELINE=DIR`: another built checkout of websocksy (an earlier commit), measured beside
 * this one as the anchor `baseline`, so that a change is judged side by side in one run.
 */
function baseline(): Subject[] {
  const dir = process.env['BENCH_BASELINE'];
  if (dir === undefined || dir === '') return [];
  const subject = websocksy('binary', dir, false, 'baseline');
  return [{ ...subject, description: `websocksy built in ${dir} (BENCH_BASELINE), binary framing` }];
}

export function subjects(root: string): { readonly main: Subject; readonly anchors: readonly Subject[]; readonly framings: readonly Subject[] } {
  return {
    main: websocksy('binary', root),
    anchors: [
      anchor('bare-uws', 'bench/anchors/bare-uws-bridge.mjs', 'uWebSockets.js + net, no backend, framing or checks (the ceiling of our stack)', root),
      anchor('naive-ws', 'bench/anchors/naive-ws-bridge.mjs', 'ws server + net socket piped by hand', root),
      websockify,
      ...baseline(),
    ],
    framings: [websocksy('newline', root), websocksy('json', root), websocksy('json', root, true)],
  };
}
