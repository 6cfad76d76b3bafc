/* Runs the C load generator (bench/bin/loadgen) and returns the JSON line it prints. */
import { spawn } from 'node:child_process';

export type LoadgenResult = Readonly<Record<string, number | string | boolean>>;

export function runLoadgen(binary: string, args: readonly string[], timeoutMs: number): Promise<LoadgenResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(binary, args, { stdio: ['ignore', 'pipe', 'pipe'] });
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
        reject(new Error(`loadgen ${args.join(' ')} printed no result (exit ${String(code)}): ${stderr.trim()}`));
        return;
      }
      if (code !== 0 || 'error' in result) {
        reject(new Error(`loadgen ${args.join(' ')} failed (exit ${String(code)}): ${line} ${stderr.trim()}`));
        return;
      }
      // A run that succeeds may still count failed connections; their first reasons are on stderr.
      if (stderr !== '') process.stderr.write(stderr);
      resolve(result);
    });
  });
}
