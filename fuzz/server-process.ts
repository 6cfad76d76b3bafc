/*
 * The websocksy under test: bin/websocksy started on a config file, its log written to a file
 * line by line (a ten-minute run logs far too much to keep in memory) and handed to whoever
 * watches for lines such as the guard's `internal error`. It runs with a preload that settles
 * its memory on a signal (collectGarbage): the heap collected, malloc's free pages returned, and
 * what the heap then holds written to a file beside the log.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, type WriteStream } from 'node:fs';
import { dirname, join } from 'node:path';
import { BIN, ROOT } from '../test/helpers/websocksy.js';
import { readHeapSample, type HeapSample } from './heap-sample.js';
import { delay } from './raw-connection.js';

/** SIGUSR2 runs two full collections and malloc_trim in the process that preloads it, and changes nothing else. */
const GC_PRELOAD = join(ROOT, 'fuzz/settle-memory.cjs');
/** How long two full collections of the server's heap are given: they take tens of ms. */
const GC_SETTLE_MS = 5000;
const GC_POLL_MS = 50;

export class ServerProcess {
  private readonly lineWatchers: Array<(line: string) => void> = [];
  private exit: { code: number | null; signal: NodeJS.Signals | null } | null = null;
  private readonly exitWatchers: Array<() => void> = [];
  /** How many collections were asked for: the preload numbers the figures it writes. */
  private settled = 0;
  /** The last lines logged, for a report when the server dies. */
  readonly tail: string[] = [];

  private constructor(
    private readonly child: ChildProcess,
    private readonly logFile: WriteStream,
    private readonly heapFile: string,
    readonly port: number,
  ) {}

  get pid(): number {
    return this.child.pid ?? 0;
  }

  get exited(): { code: number | null; signal: NodeJS.Signals | null } | null {
    return this.exit;
  }

  /**
   * Runs full collections in the server and waits until it has written what its heap then
   * holds; null when it is gone or did not write within GC_SETTLE_MS.
   */
  async collectGarbage(): Promise<HeapSample | null> {
    if (this.exit !== null) return null;
    this.settled += 1;
    this.child.kill('SIGUSR2');
    for (const deadline = Date.now() + GC_SETTLE_MS; Date.now() < deadline && this.exit === null; ) {
      await delay(GC_POLL_MS);
      const heap = readHeapSample(this.heapFile, this.settled);
      if (heap !== null) return heap;
    }
    return null;
  }

  onLine(watcher: (line: string) => void): void {
    this.lineWatchers.push(watcher);
  }

  onExit(watcher: () => void): void {
    this.exitWatchers.push(watcher);
  }

  /** Starts `websocksy CONFIG`, logging to `logPath`; resolves once it logs its port. */
  static start(config: string, logPath: string, timeoutMs = 15_000): Promise<ServerProcess> {
    const heapFile = join(dirname(logPath), 'heap.json');
    const child = spawn(process.execPath, ['--require', GC_PRELOAD, BIN, config], { cwd: ROOT, env: { ...process.env, FUZZ_HEAP_FILE: heapFile }, stdio: ['ignore', 'pipe', 'pipe'] });
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
          server = new ServerProcess(child, logFile, heapFile, Number(port));
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
