/*
 * Runs the health client (health.ts) in a worker thread (health-worker.ts): started before the
 * cases, stopped after the quiet period, with a callback at its first failure.
 */
import { Worker } from 'node:worker_threads';

export interface HealthResult {
  readonly wsLatencies: readonly number[];
  readonly httpLatencies: readonly number[];
  readonly failure: string | null;
}

export type HealthMessage = { readonly type: 'ready' } | { readonly type: 'failure'; readonly failure: string } | ({ readonly type: 'result' } & HealthResult);

export class HealthThread {
  failure: string | null = null;
  onFailure: (() => void) | null = null;

  private constructor(private readonly worker: Worker) {
    worker.on('message', (message: HealthMessage) => {
      if (message.type !== 'failure' || this.failure !== null) return;
      this.failure = message.failure;
      this.onFailure?.();
    });
  }

  /** Resolves once the client's WebSocket is open. */
  static start(port: number): Promise<HealthThread> {
    const worker = new Worker(new URL('./health-worker.js', import.meta.url), { workerData: { port } });
    return new Promise((resolve, reject) => {
      worker.once('error', reject);
      worker.once('exit', (code) => reject(new Error(`the health thread exited (${code}) before it was ready`)));
      worker.on('message', (message: HealthMessage) => {
        if (message.type !== 'ready') return;
        worker.removeAllListeners('error').removeAllListeners('exit');
        resolve(new HealthThread(worker));
      });
    });
  }

  /** Stops the client and returns what it measured. */
  stop(): Promise<HealthResult> {
    return new Promise((resolve, reject) => {
      this.worker.once('error', reject);
      this.worker.on('message', (message: HealthMessage) => {
        if (message.type === 'result') resolve(message);
      });
      this.worker.postMessage('stop');
    });
  }
}
