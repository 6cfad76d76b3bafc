/*
 * A TCP port on 127.0.0.1 that never completes a connect: a listener with backlog 0 that never
 * accepts, its one-place accept queue already filled, so further SYNs go unanswered.
 * Needs python3 (Node always accepts).
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import type { TestContext } from 'node:test';
import { IN_CI } from './tools.js';

export interface Blackhole {
  readonly port: number;
  close(): void;
}

const SCRIPT = [
  'import socket, time',
  's = socket.socket(); s.bind(("127.0.0.1", 0)); s.listen(0)',
  'fill = socket.create_connection(s.getsockname())',
  'print(s.getsockname()[1], flush=True)',
  'time.sleep(120)',
].join('\n');

/** Resolves null when python3 is missing (the caller skips, or fails in CI). */
export async function blackhole(): Promise<Blackhole | null> {
  const python: ChildProcess = spawn('python3', ['-c', SCRIPT], { stdio: ['ignore', 'pipe', 'inherit'] });
  const port = await new Promise<number | null>((resolve) => {
    python.once('error', () => resolve(null));
    python.once('exit', () => resolve(null));
    python.stdout?.once('data', (chunk: Buffer) => resolve(Number(chunk.toString().trim())));
  });
  if (port === null) return null;
  return { port, close: () => python.kill() };
}

/** Without python3 a test skips; in CI, where it must be installed, it fails. */
export function skipWithoutPython(t: TestContext): void {
  assert.ok(!IN_CI, 'python3 is needed for this test in CI');
  t.skip('python3 not installed');
}

/** A blackhole for test `t`, or null after skipping `t`. */
export async function blackholeOrSkip(t: TestContext): Promise<Blackhole | null> {
  const hole = await blackhole();
  if (hole === null) skipWithoutPython(t);
  return hole;
}
