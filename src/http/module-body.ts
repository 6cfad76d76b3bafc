/*
 * A request body on its way into a route module (RouteRequest.body): uWS's chunks, copied (uWS
 * reuses their memory), queue for the module's async iterator. Backpressure follows the one
 * policy (core/send-policy.ts): past HIGH_WATER bytes queued, uWS stops reading the client until
 * the module has taken half of them. Past the route's max-body the body fails, whoever reads it.
 * Once the response ends, the rest of the body is dropped as it arrives: uWS goes on reading it,
 * and the connection stays usable for the next request.
 */
import { aboveHighWater, drainedBelowLowWater } from '../core/send-policy.js';
import type { ClientResponse } from './client-response.js';
import { BodyTooLargeError } from './module-errors.js';

const HIGH_WATER = 1024 * 1024;

interface Waiter {
  resolve(result: IteratorResult<Buffer>): void;
  reject(error: Error): void;
}

export class RequestBody implements AsyncIterable<Buffer> {
  private readonly queue: Buffer[] = [];
  private queued = 0;
  /** Every byte uWS handed over, dropped ones included: what the limit and the exchange's clock count. */
  private receivedBytes = 0;
  private complete: boolean;
  /** Why the body can no longer be read; from then on, what arrives is dropped. */
  private failure: Error | null = null;
  /** The module stopped iterating early (break): the rest is dropped, still counted. */
  private abandoned = false;
  private waiter: Waiter | null = null;
  private iterated = false;

  constructor(
    private readonly answer: ClientResponse,
    hasBody: boolean,
    private readonly limit: number,
    /** Called once when the body passes the limit while the exchange still runs. */
    private readonly onTooLarge: (error: BodyTooLargeError) => void,
  ) {
    this.complete = !hasBody;
    // uWS takes the body callback only from the request handler itself, so it is set now.
    if (hasBody) answer.onBody((chunk, isLast) => this.arrived(chunk, isLast));
  }

  /** The whole body has arrived. */
  get done(): boolean {
    return this.complete;
  }

  get received(): number {
    return this.receivedBytes;
  }

  [Symbol.asyncIterator](): AsyncIterator<Buffer> {
    if (this.iterated) throw new Error('the request body can be read only once');
    this.iterated = true;
    return {
      next: () => this.next(),
      return: () => {
        this.abandoned = true;
        this.drop();
        return Promise.resolve({ value: undefined, done: true });
      },
    };
  }

  /** The response has ended or the client left: whatever the module still waits for fails with `why`. */
  discard(why: Error): void {
    if (this.failure !== null) return;
    this.failure = why;
    this.drop();
    this.waiter?.reject(why);
    this.waiter = null;
  }

  private arrived(chunk: ArrayBuffer, isLast: boolean): void {
    this.receivedBytes += chunk.byteLength;
    if (isLast) {
      this.complete = true;
      // The body is all read: a socket left paused past its response breaks keep-alive.
      this.answer.resumeBody();
    }
    if (this.failure !== null) return;
    if (this.receivedBytes > this.limit) {
      const error = new BodyTooLargeError(this.limit);
      this.discard(error);
      this.onTooLarge(error);
      return;
    }
    if (this.abandoned) return;
    if (chunk.byteLength > 0) {
      this.queue.push(Buffer.copyBytesFrom(new Uint8Array(chunk)));
      this.queued += chunk.byteLength;
      if (!isLast && aboveHighWater(this.queued, HIGH_WATER)) this.answer.pauseBody();
    }
    this.wake();
  }

  private next(): Promise<IteratorResult<Buffer>> {
    const chunk = this.queue.shift();
    if (chunk !== undefined) {
      this.queued -= chunk.length;
      if (drainedBelowLowWater(this.queued, HIGH_WATER)) this.answer.resumeBody();
      return Promise.resolve({ value: chunk, done: false });
    }
    if (this.failure !== null) return Promise.reject(this.failure);
    if (this.complete || this.abandoned) return Promise.resolve({ value: undefined, done: true });
    if (this.waiter !== null) return Promise.reject(new Error('the request body is read one chunk at a time: await each next() first'));
    return new Promise((resolve, reject) => (this.waiter = { resolve, reject }));
  }

  private wake(): void {
    const waiter = this.waiter;
    if (waiter === null || (this.queue.length === 0 && !this.complete)) return;
    this.waiter = null;
    void this.next().then(waiter.resolve, waiter.reject);
  }

  private drop(): void {
    this.queue.length = 0;
    this.queued = 0;
    this.answer.resumeBody();
  }
}
