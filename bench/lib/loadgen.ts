/* Runs the C load generators (bench/bin/loadgen, bench/bin/tcpload) and returns the JSON line they print. */
import { spawn } from 'node:child_process';
import { basename } from 'node:path';
import { commandOn } from './cpu-layout.js';

export type LoadgenResult = Readonly<Record<string, number | string | boolean>>;

/**
 * The framing workload's load, which the quiet-start workload puts on websocksy too: 16
 * connections, 4 KiB lines of digits (each also one JSON number), 32 in flight on each.
 */
export function framingLoad(url: string, seconds: number): string[] {
  return ['throughput', '--url', url, '--conns', '16', '--size', '4096', '--window', '32', '--seconds', String(seconds), '--digits'];
}

/** Runs a load generator, on `cpus` only when given (taskset's list syntax). */
export function runLoadgen(binary: string, args: readonly string[], timeoutMs: number, cpus: string | null = null): Promise<LoadgenResult> {
  const name = basename(binary);
  return new Promise((resolve, reject) => {
    const [command, commandArgs] = commandOn(cpus, binary, args);
    const child = spawn(command, commandArgs, { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.once('exit', (code) => {
      clearTimeout(timer);
      const line = stdout.trim().split('\n').pop() ?? '';
      let result: LoadgenResult;
      try {
        result = JSON.parse(line) as LoadgenResult;
      } catch {
        reject(new Error(`${name} ${args.join(' ')} printed no result (exit ${String(code)}): ${stderr.trim()}`));
        return;
      }
      if (code !== 0 || 'error' in result) {
        reject(new Error(`${name} ${args.join(' ')} failed (exit ${String(code)}): ${line} ${stderr.trim()}`));
        return;
      }
      // A run that succeeds may still count failed connections; their first reasons are on stderr.
      if (stderr !== '') process.stderr.write(stderr);
      resolve(result);
    });
  });
}

/** A load generator that printed its first line and now waits for its stdin to end (idle, resume). */
export interface HeldLoadgen {
  readonly first: LoadgenResult;
  /** Ends its stdin and waits for it to exit; resolves to the line it printed last. */
  release(): Promise<LoadgenResult>;
}

export function holdLoadgen(binary: string, args: readonly string[]): Promise<HeldLoadgen> {
  const child = spawn(binary, args, { stdio: ['pipe', 'pipe', 'inherit'] });
  let stdout = '';
  const lines = (): string[] => stdout.trim().split('\n');
  const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
  const release = async (): Promise<LoadgenResult> => {
    child.stdin.end();
    const code = await exited;
    const last = JSON.parse(lines().pop() ?? '') as LoadgenResult;
    if (code !== 0 || 'error' in last) throw new Error(`loadgen ${args.join(' ')} failed (exit ${String(code)}): ${stdout.trim()}`);
    return last;
  };
  return new Promise((resolve, reject) => {
    let held = false;
    child.stdout.on('data', (chunk: Buffer) => {
      stdout += chunk.toString();
      if (held || !stdout.includes('\n')) return;
      held = true;
      const first = JSON.parse(lines()[0] ?? '') as LoadgenResult;
      if ('error' in first) reject(new Error(`loadgen ${args.join(' ')}: ${String(first['error'])}`));
      else resolve({ first, release });
    });
    void exited.then((code) => reject(new Error(`loadgen ${args.join(' ')} exited with ${String(code)}: ${stdout}`)));
  });
}
