/*
 * The health client in a thread of its own, so that its latencies measure the server and not
 * the fuzzer's busy event loop. It reports a failure the moment it happens, and everything it
 * measured when told to stop.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { HealthClient } from './health.js';
import type { HealthMessage } from './health-thread.js';

const port = parentPort;
if (port === null) throw new Error('health-worker.js runs as a worker thread');
const client = await HealthClient.start((workerData as { port: number }).port);
const post = (message: HealthMessage): void => port.postMessage(message);
client.onFailure = () => post({ type: 'failure', failure: client.failure ?? '' });
port.on('message', () => {
  client.stop();
  post({ type: 'result', wsLatencies: client.wsLatencies, httpLatencies: client.httpLatencies, failure: client.failure });
  port.close();
});
post({ type: 'ready' });
