/*
 * The process's open-file limit against what `max-connections` may need: a bridged connection
 * holds two descriptors, the client's and the peer's. Past the limit a peer cannot be connected
 * (503, reason host-limit), and once accept() fails too, uSockets wakes for the waiting
 * connection again and again: measured, a whole CPU until a descriptor is free (docs/limits.md).
 * Said once at start, so that the operator raises the limit before the clients find it.
 */
import { readFileSync } from 'node:fs';
import { errorMessage } from '../lib/errors.js';
import { log } from '../lib/log.js';

/** Descriptors websocksy holds besides its connections: node's own, listeners, log files, plugins. */
const RESERVE = 64;

/** The soft limit in /proc/PID/limits' text (node has no getrlimit), or null when it is unlimited or absent. */
export function softOpenFileLimit(limits: string): number | null {
  const match = /^Max open files\s+(\d+)\s/m.exec(limits);
  return match === null ? null : Number(match[1]);
}

/** Warns when `maxConnections` bridged connections would not fit in the open-file limit. */
export function warnOfOpenFileLimit(maxConnections: number): void {
  let limits: string;
  try {
    limits = readFileSync('/proc/self/limits', 'utf8');
  } catch (error) {
    log.debug('open-file limit not checked', { why: errorMessage(error) });
    return;
  }
  const limit = softOpenFileLimit(limits);
  if (limit === null) return;
  const needed = maxConnections === 0 ? Infinity : 2 * maxConnections + RESERVE;
  if (limit >= needed) return;
  log.warn('open-file limit below what max-connections needs', {
    limit,
    max_connections: maxConnections === 0 ? 'no cap' : maxConnections,
    needed: maxConnections === 0 ? undefined : needed,
    fix: 'raise LimitNOFILE= or ulimit -n, or lower max-connections: past the limit peers get 503 and accept() spins a CPU (docs/limits.md)',
  });
}
