/*
 * What a cluster's primary and workers say to each other over the IPC channel node's fork()
 * opens (cluster-primary.ts, cluster-worker.ts). Messages from the other side are checked before
 * use: a worker is websocksy, but a message is still input.
 */
import type { MetricsSnapshot } from '../metrics/server-metrics.js';

/** Set in a worker's environment: its number, from 1. */
export const WORKER_ENV = 'WEBSOCKSY_WORKER';
/** Set in a worker's environment: the ports every worker binds (JSON ListenPorts). */
export const WORKER_PORTS_ENV = 'WEBSOCKSY_WORKER_PORTS';

export type { MetricsSnapshot };

export type WorkerMessage =
  | { readonly type: 'listening' }
  /** A scrape reached this worker: it asks for the cluster's metrics. */
  | { readonly type: 'metrics-request'; readonly id: number }
  /** This worker's own metrics, for the primary's scrape `id`. */
  | { readonly type: 'metrics-snapshot'; readonly id: number; readonly snapshot: MetricsSnapshot };

export type PrimaryMessage =
  | { readonly type: 'metrics-collect'; readonly id: number }
  | { readonly type: 'metrics-result'; readonly id: number; readonly text?: string; readonly error?: string };

function record(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null;
}

export function isWorkerMessage(value: unknown): value is WorkerMessage {
  if (!record(value) || typeof value['type'] !== 'string') return false;
  if (value['type'] === 'listening') return true;
  if (value['type'] === 'metrics-request') return typeof value['id'] === 'number';
  return value['type'] === 'metrics-snapshot' && typeof value['id'] === 'number' && Array.isArray(value['snapshot']);
}

export function isPrimaryMessage(value: unknown): value is PrimaryMessage {
  if (!record(value) || typeof value['id'] !== 'number') return false;
  return value['type'] === 'metrics-collect' || value['type'] === 'metrics-result';
}
