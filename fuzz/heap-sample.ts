/*
 * What the server's collected heap holds, as fuzz/settle-memory.cjs writes it after each
 * SIGUSR2: JavaScript objects, compiled code and bytecode apart from them, and the memory of
 * ArrayBuffers (Buffers among them), which lies outside V8's heap.
 */
import { readFileSync } from 'node:fs';

export interface HeapSample {
  /** Every heap space but code and bytecode, after two full collections. */
  readonly objectBytes: number;
  readonly codeBytes: number;
  readonly arrayBufferBytes: number;
}

function isCount(value: unknown): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 0;
}

/**
 * The figures the preload wrote after its `settled`-th collection, or null while the file is
 * missing or older (the preload renames it into place, so it is never read half-written).
 */
export function readHeapSample(file: string, settled: number): HeapSample | null {
  let figures: Record<string, unknown>;
  try {
    figures = JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw new Error(`the server's heap figures in ${file} cannot be read: ${String(error)}`);
  }
  const { objectBytes, codeBytes, arrayBufferBytes } = figures;
  if (figures['settled'] !== settled) return null;
  if (!isCount(objectBytes) || !isCount(codeBytes) || !isCount(arrayBufferBytes)) throw new Error(`the server's heap figures in ${file} are not byte counts: ${JSON.stringify(figures)}`);
  return { objectBytes, codeBytes, arrayBufferBytes };
}
