import { getSystemErrorName } from 'node:util';

/** The message of anything thrown, for log lines and error answers that add their own context. */
export function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/**
 * The errno-style code of a system error (`ECONNREFUSED`), else its message. unix-dgram's errors
 * carry a negative errno number as their code (message "connect -2"): that is named too.
 */
export function errorCode(error: unknown): string {
  const code = (error as { code?: unknown } | null)?.code;
  if (typeof code === 'string') return code;
  if (typeof code === 'number' && Number.isInteger(code) && code < 0) return getSystemErrorName(code);
  return errorMessage(error);
}

/** Codes with which a connect fails on this host's own limits, not the peer's: descriptors, buffers, memory, local ports. */
const HOST_LIMITS: ReadonlySet<string> = new Set(['EMFILE', 'ENFILE', 'ENOBUFS', 'ENOMEM', 'EADDRNOTAVAIL']);

/** True when `code` (errorCode's) says this host ran out of something, so the peer is not to blame. */
export function isHostLimit(code: string): boolean {
  return HOST_LIMITS.has(code);
}
