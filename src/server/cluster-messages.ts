/*
 * What a cluster's primary and workers say to each other over the IPC channel node's fork()
 * opens (cluster-primary.ts, cluster-worker.ts). Messages from the other side are checked before
 * use: a worker is websocksy, but a message is still input.
 */
import type { MetricsSnapshot } from '../metrics/server-metrics.js';
import { isPortNumber } from './listen-plan.js';

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
  | { readonly type: 'metrics-snapshot'; readonly id: number; readonly snapshot: MetricsSnapshot }
  /** This worker would own tunnel identity `identity`: the primary answers with its owner (`owner`, same id). */
  | { readonly type: 'claim'; readonly id: number; readonly identity: string }
  /** This worker holds no session of `identity` any more. */
  | { readonly type: 'release'; readonly identity: string };

export type PrimaryMessage =
  /**
   * The cluster's secret, every listening worker's link port ([worker, port]) and every owned
   * tunnel identity ([identity, worker]); sent again on every change.
   */
  | { readonly type: 'siblings'; readonly secret: string; readonly links: ReadonlyArray<readonly [number, number]>; readonly owners: ReadonlyArray<readonly [string, number]> }
  /** The answer to claim `id`: the worker that owns the identity now. */
  | { readonly type: 'owner'; readonly id: number; readonly worker: number }
  | { readonly type: 'metrics-collect'; readonly id: number }
  | { readonly type: 'metrics-result'; readonly id: number; readonly text?: string; readonly error?: string };

function record(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null;
}

export function isWorkerMessage(value: unknown): value is WorkerMessage {
  if (!record(value) || typeof value['type'] !== 'string') return false;
  if (value['type'] === 'listening') return isPortNumber(value['link']);
  if (value['type'] === 'metrics-request') return typeof value['id'] === 'number';
  if (value['type'] === 'claim') return typeof value['id'] === 'number' && typeof value['identity'] === 'string';
  if (value['type'] === 'release') return typeof value['identity'] === 'string';
  return value['type'] === 'metrics-snapshot' && typeof value['id'] === 'number' && Array.isArray(value['snapshot']);
}

function isLinkList(value: unknown): value is Array<[number, number]> {
  return Array.isArray(value) && value.every((entry) => Array.isArray(entry) && entry.length === 2 && Number.isInteger(entry[0]) && isPortNumber(entry[1]));
}

function isOwnerList(value: unknown): value is Array<[string, number]> {
  return Array.isArray(value) && value.every((entry) => Array.isArray(entry) && entry.length === 2 && typeof entry[0] === 'string' && Number.isInteger(entry[1]));
}

export function isPrimaryMessage(value: unknown): value is PrimaryMessage {
  if (!record(value)) return false;
  if (value['type'] === 'siblings') return typeof value['secret'] === 'string' && isLinkList(value['links']) && isOwnerList(value['owners']);
  if (value['type'] === 'owner') return typeof value['id'] === 'number' && Number.isInteger(value['worker']);
  if (typeof value['id'] !== 'number') return false;
  return value['type'] === 'metrics-collect' || value['type'] === 'metrics-result';
}
