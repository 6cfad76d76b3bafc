/*
 * One HTTP request to the server under test over a connection of its own (no agent, so nothing
 * stays open after it), bounded in time and in the answer's size: the status and body, or how
 * it failed. `abortAfterMs` plays the client that gives up on a poll while it waits.
 */
import { request } from 'node:http';
import { errorMessage } from '../src/lib/errors.js';

/** Answers are read up to this size; the rest is counted but not kept. */
const MAX_BODY = 4 * 1024 * 1024;

export interface HttpCall {
  readonly method: string;
  readonly path: string;
  readonly headers?: Readonly<Record<string, string>>;
  readonly body?: Buffer | undefined;
  /** The call fails after this long (it is always bounded). */
  readonly timeoutMs: number;
  /** Destroy the request after this long: a client that leaves mid-wait. */
  readonly abortAfterMs?: number | undefined;
}

export type HttpAnswer = { readonly status: number; readonly body: Buffer } | { readonly failed: string };

export function httpCall(port: number, call: HttpCall): Promise<HttpAnswer> {
  return new Promise((resolve) => {
    let settled = false;
    const settle = (answer: HttpAnswer): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      if (abortTimer !== null) clearTimeout(abortTimer);
      resolve(answer);
    };
    const req = request({ host: '127.0.0.1', port, method: call.method, path: call.path, headers: call.headers, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      let size = 0;
      res.on('data', (chunk: Buffer) => {
        if (size + chunk.length <= MAX_BODY) chunks.push(chunk);
        size += chunk.length;
      });
      res.on('end', () => settle({ status: res.statusCode ?? 0, body: Buffer.concat(chunks) }));
      res.on('error', (error) => settle({ failed: errorMessage(error) }));
    });
    const timer = setTimeout(() => {
      req.destroy();
      settle({ failed: 'timed out' });
    }, call.timeoutMs);
    const abortTimer = call.abortAfterMs === undefined ? null : setTimeout(() => {
      req.destroy();
      settle({ failed: 'aborted by the client' });
    }, call.abortAfterMs);
    req.on('error', (error) => settle({ failed: errorMessage(error) }));
    req.end(call.body);
  });
}

/** An answer in a few words: `http 200`, or how it failed. */
export function describeAnswer(answer: HttpAnswer): string {
  return 'failed' in answer ? answer.failed : `http ${answer.status}`;
}
