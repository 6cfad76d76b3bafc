/*
 * What a test reads of a process from /proc: its open descriptors and its resident memory.
 * `pid` is a websocksy the test started, or 'self' for the test's own process.
 */
import { readdirSync, readFileSync } from 'node:fs';

export function openDescriptors(pid: number | 'self' = 'self'): number {
  return readdirSync(`/proc/${pid}/fd`).length;
}

export function rssBytes(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  return Number(/VmRSS:\s+(\d+) kB/.exec(status)?.[1] ?? 0) * 1024;
}
