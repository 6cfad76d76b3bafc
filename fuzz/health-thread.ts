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

  private exited = false;
  private stopping = false;

  private constructor(private readonly worker: Worker) {
    worker.on('message', (message: HealthMessage) => {
      if (message.type === 'failure') this.fail(message.failure);
    });
    worker.on('error', (error) => this.fail(`the health thread failed: ${error.message}`));
    worker.on('exit', () => {
      this.exited = true;
      this.fail('the health thread exited');
    });
  }

  private fail(why: string): void {
    if (this.failure !== null || this.stopping) return;
    this.failure = why;
    this.onFailure?.();
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

  /** Stops the client and returns what it measured (nothing, if the thread is gone). */
  stop(): Promise<HealthResult> {
    const gone = (): HealthResult => ({ wsLatencies: [], httpLatencies: [], failure: this.failure ?? 'the health thread did not answer' });
    if (this.exited) return Promise.resolve(gone());
    this.stopping = true;
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        void this.worker.terminate();
        resolve(gone());
      }, 5000);
      this.worker.once('exit', () => {
        clearTimeout(timer);
        resolve(gone());
      });
      this.worker.on('message', (message: HealthMessage) => {
        if (message.type !== 'result') return;
        clearTimeout(timer);
        resolve(message);
      });
      this.worker.postMessage('stop');
    });
  }
}
