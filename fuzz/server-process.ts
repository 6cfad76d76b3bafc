/*
 * The websocksy under test: bin/websocksy started on a config file, its log written to a file
 * line by line (a ten-minute run logs far too much to keep in memory) and handed to whoever
 * watches for lines such as the guard's `internal error`. It runs with a preload that settles
 * its memory on a signal (collectGarbage): the heap collected, malloc's free pages returned.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, type WriteStream } from 'node:fs';
import { join } from 'node:path';
import { BIN, ROOT } from '../test/helpers/websocksy.js';

/** SIGUSR2 runs two full collections and malloc_trim in the process that preloads it, and changes nothing else. */
const GC_PRELOAD = join(ROOT, 'fuzz/settle-memory.cjs');
/** How long two full collections of the server's heap are given. */
const GC_SETTLE_MS = 1000;

export class ServerProcess {
  private readonly lineWatchers: Array<(line: string) => void> = [];
  private exit: { code: number | null; signal: NodeJS.Signals | null } | null = null;
  private readonly exitWatchers: Array<() => void> = [];
  /** The last lines logged, for a report when the server dies. */
  readonly tail: string[] = [];

  private constructor(
    private readonly child: ChildProcess,
    private readonly logFile: WriteStream,
    readonly port: number,
  ) {}

  get pid(): number {
    return this.child.pid ?? 0;
  }

  get exited(): { code: number | null; signal: NodeJS.Signals | null } | null {
    return this.exit;
  }

  /** Runs full collections in the server and waits for them. */
  async collectGarbage(): Promise<void> {
    if (this.exit !== null) return;
    this.child.kill('SIGUSR2');
    await new Promise((resolve) => setTimeout(resolve, GC_SETTLE_MS));
  }

  onLine(watcher: (line: string) => void): void {
    this.lineWatchers.push(watcher);
  }

  onExit(watcher: () => void): void {
    this.exitWatchers.push(watcher);
  }

  /** Starts `websocksy CONFIG`, logging to `logPath`; resolves once it logs its port. */
  static start(config: string, logPath: string, timeoutMs = 15_000): Promise<ServerProcess> {
    const child = spawn(process.execPath, ['--require', GC_PRELOAD, BIN, config], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    const logFile = createWriteStream(logPath);
    return new Promise((resolve, reject) => {
      let server: ServerProcess | null = null;
      const timer = setTimeout(() => {
        child.kill('SIGKILL');
        reject(new Error(`websocksy did not log "listening" within ${timeoutMs} ms (log: ${logPath})`));
      }, timeoutMs);
      const onLine = (line: string): void => {
        logFile.write(line + '\n');
        if (server === null) {
          const port = /^\S+ info +listening .*port=(\d+)/.exec(line)?.[1];
          if (port === undefined) return;
          clearTimeout(timer);
          server = new ServerProcess(child, logFile, Number(port));
          resolve(server);
          return;
        }
        server.tail.push(line);
        if (server.tail.length > 40) server.tail.shift();
        for (const watcher of server.lineWatchers) watcher(line);
      };
      splitLines(child.stdout, onLine);
      splitLines(child.stderr, onLine);
      child.once('exit', (code, signal) => {
        clearTimeout(timer);
        if (server === null) {
          reject(new Error(`websocksy exited (${code ?? signal ?? '?'}) before listening (log: ${logPath})`));
          return;
        }
        server.exit = { code, signal };
        for (const watcher of server.exitWatchers) watcher();
      });
    });
  }

  /** SIGTERM (SIGKILL after 10 s); resolves when it has exited and the log is flushed. */
  async stop(): Promise<void> {
    if (this.exit === null) {
      const exited = new Promise<void>((resolve) => this.onExit(resolve));
      this.child.kill('SIGTERM');
      const timer = setTimeout(() => this.child.kill('SIGKILL'), 10_000);
      await exited;
      clearTimeout(timer);
    }
    await new Promise<void>((resolve) => this.logFile.end(resolve));
  }
}

function splitLines(stream: NodeJS.ReadableStream | null, onLine: (line: string) => void): void {
  let rest = '';
  stream?.setEncoding('utf8');
  stream?.on('data', (chunk: string) => {
    const lines = (rest + chunk).split('\n');
    rest = lines.pop() ?? '';
    for (const line of lines) onLine(line);
  });
}
