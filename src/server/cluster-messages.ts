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
  /** `link`: the loopback port of this worker's own, where its siblings relay what it holds (cluster/siblings.ts). */
  | { readonly type: 'listening'; readonly link: number }
  /** A scrape reached this worker: it asks for the cluster's metrics. */
  | { readonly type: 'metrics-request'; readonly id: number }
  /** This worker's own metrics, for the primary's scrape `id`. */
  | { readonly type: 'metrics-snapshot'; readonly id: number; readonly snapshot: MetricsSnapshot };

export type PrimaryMessage =
  /** The cluster's secret and every listening worker's link port, [worker, port]; sent again on every change. */
  | { readonly type: 'siblings'; readonly secret: string; readonly links: ReadonlyArray<readonly [number, number]> }
  | { readonly type: 'metrics-collect'; readonly id: number }
  | { readonly type: 'metrics-result'; readonly id: number; readonly text?: string; readonly error?: string };

function record(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null;
}

export function isWorkerMessage(value: unknown): value is WorkerMessage {
  if (!record(value) || typeof value['type'] !== 'string') return false;
  if (value['type'] === 'listening') return isPort(value['link']);
  if (value['type'] === 'metrics-request') return typeof value['id'] === 'number';
  return value['type'] === 'metrics-snapshot' && typeof value['id'] === 'number' && Array.isArray(value['snapshot']);
}

function isPort(value: unknown): value is number {
  return typeof value === 'number' && Number.isInteger(value) && value >= 1 && value <= 65535;
}

function isLinkList(value: unknown): value is Array<[number, number]> {
  return Array.isArray(value) && value.every((entry) => Array.isArray(entry) && entry.length === 2 && Number.isInteger(entry[0]) && isPort(entry[1]));
}

export function isPrimaryMessage(value: unknown): value is PrimaryMessage {
  if (!record(value)) return false;
  if (value['type'] === 'siblings') return typeof value['secret'] === 'string' && isLinkList(value['links']);
  if (typeof value['id'] !== 'number') return false;
  return value['type'] === 'metrics-collect' || value['type'] === 'metrics-result';
}
