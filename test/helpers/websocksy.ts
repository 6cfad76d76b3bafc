/*
 * Starts the real websocksy executable on 127.0.0.1 with an OS-chosen port, and collects its log.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { closeIdleConnections } from './idle-connections.js';

export const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
export const BIN = `${ROOT}bin/websocksy`;

export interface RunningWebsocksy {
  readonly port: number;
  readonly process: ChildProcess;
  readonly url: string;
  /** Everything logged so far. */
  log(): string;
  /** Resolves when a log line matches `pattern` (bounded by `timeoutMs`). */
  waitForLog(pattern: RegExp, timeoutMs?: number): Promise<string>;
  /**
   * Resolves once nothing has been logged for `quietMs`: websocksy writes its lines in batches, up
   * to 100 ms late under load (src/lib/log.ts), so a count of lines is exact only after this.
   */
  waitForQuiet(quietMs?: number, timeoutMs?: number): Promise<void>;
  /** The exit code, once the process has exited and what it wrote before has been read. */
  exited(): Promise<number | null>;
  /** Sends `signal` and resolves with the exit code. */
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

/**
 * `bin`: another installation's bin/websocksy (an installed package's), instead of this checkout's.
 * `wrapper`: a command that runs it (`ip netns exec NAME`), and must exec it in its own place.
 */
export async function startWebsocksy(
  args: readonly string[],
  options: { cwd?: string; timeoutMs?: number; readyPattern?: RegExp; env?: NodeJS.ProcessEnv; bin?: string; wrapper?: readonly string[] } = {},
): Promise<RunningWebsocksy> {
  const command = [...(options.wrapper ?? []), process.execPath, options.bin ?? BIN, ...args];
  const child = spawn(command[0] as string, command.slice(1), {
    cwd: options.cwd ?? ROOT,
    env: { ...process.env, ...options.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  const waiters = new Set<() => void>();
  const collect = (chunk: Buffer): void => {
    output += chunk.toString('utf8');
    for (const wake of waiters) wake();
  };
  child.stdout.on('data', collect);
  child.stderr.on('data', collect);
  const exitCode = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  // 'exit' may come before the last of the output is read: each stream's end says it has been.
  const outputRead = Promise.all([new Promise((resolve) => child.stdout.once('end', resolve)), new Promise((resolve) => child.stderr.once('end', resolve))]);
  const exited = async (): Promise<number | null> => {
    const code = await exitCode;
    // Bounded: a cluster's worker may hold the pipes a little after its primary is gone.
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([outputRead, new Promise((resolve) => (timer = setTimeout(resolve, 2000)))]);
    clearTimeout(timer);
    return code;
  };
  let gone = false;
  child.once('exit', () => {
    gone = true;
    for (const wake of waiters) wake();
  });

  const waitForLog = (pattern: RegExp, timeoutMs = 10_000): Promise<string> =>
    new Promise((resolve, reject) => {
      const check = (): boolean => {
        const match = pattern.exec(output);
        if (match !== null) {
          resolve(match[0]);
          return true;
        }
        if (gone) {
          reject(new Error(`websocksy exited before logging ${pattern}; log:\n${output}`));
          return true;
        }
        return false;
      };
      if (check()) return;
      const wake = (): void => {
        if (check()) done();
      };
      const timer = setTimeout(() => {
        done();
        reject(new Error(`timed out waiting for ${pattern}; log:\n${output}`));
      }, timeoutMs);
      const done = (): void => {
        clearTimeout(timer);
        waiters.delete(wake);
      };
      waiters.add(wake);
    });

  // `websocksy forward` has no port of its own: its ready line is `forwarding`.
  const line = await waitForLog(options.readyPattern ?? /listening .*port=(\d+).*/, options.timeoutMs ?? 10_000);
  // A text line says port=N; a JSON line (log-format = json) "port":N.
  const port = Number((/port=(\d+)/.exec(line) ?? /"port":(\d+)/.exec(line))?.[1]);
  return {
    port,
    process: child,
    url: `ws://127.0.0.1:${port}`,
    log: () => output,
    waitForLog,
    waitForQuiet: async (quietMs = 300, timeoutMs = 10_000) => {
      const deadline = Date.now() + timeoutMs;
      for (let seen = -1; seen !== output.length; ) {
        if (Date.now() > deadline) throw new Error(`the log was not quiet for ${quietMs} ms within ${timeoutMs} ms; log:\n${output}`);
        seen = output.length;
        await new Promise((resolve) => setTimeout(resolve, quietMs));
      }
    },
    // SIGINT, the fast stop: a test's cleanup does not wait out a drain (SIGTERM), nor the idle
    // keep-alive connections the test process holds to it (idle-connections.ts).
    exited,
    stop: async (signal = 'SIGINT') => {
      if (child.exitCode !== null || child.signalCode !== null) return exited();
      child.kill(signal);
      if (signal === 'SIGINT') closeIdleConnections([...output.matchAll(/^.*listening.*port[=":]+(\d+)/gm)].map((match) => Number(match[1])));
      const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
      const code = await exited();
      clearTimeout(timer);
      return code;
    },
  };
}

/** Runs websocksy expecting it to exit by itself (config errors, --help); returns code and output. */
export async function runWebsocksy(args: readonly string[], cwd = ROOT, env: NodeJS.ProcessEnv = {}): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawn(process.execPath, [BIN, ...args], { cwd, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
  // 'close', not 'exit': the process may be gone while its last output still waits in the pipes
  // (Node 24 in CI once read nothing at all of a refusal's message).
  const [code] = (await once(child, 'close')) as [number | null];
  clearTimeout(timer);
  return { code, stdout, stderr };
}

/** How many times uWS warned, on `server`'s stderr, of a write outside a corked callback: one per upgrade answered after its handler returned. */
export function corkWarnings(server: RunningWebsocksy): number {
  return server.log().match(/^Warning: uWS\.HttpResponse writes must be made from within a corked callback/gm)?.length ?? 0;
}
