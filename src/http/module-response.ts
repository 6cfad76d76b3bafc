/*
 * A route module's answer (RouteResponse) on its way to the client. The status and headers are
 * checked as the module sets them and go out with the first write() or end(); the body then
 * flows through a bounded stream into ClientResponse.sendBody, which owns uWS's backpressure
 * (tryEnd/write report a full socket, onWritable resumes). So write() returns false once that
 * stream is full, drained() resolves when it has room again, and a stalled client costs at most
 * the stream's buffer. A module that writes on regardless is cut off past AHEAD_LIMIT (a fault
 * of the module's, logged), never buffered without bound.
 */
import { STATUS_CODES } from 'node:http';
import { PassThrough } from 'node:stream';
import type { RouteResponse } from '../core/route-api.js';
import { runGuardedAsync, reportFault, type Guarded } from '../lib/guard.js';
import { isFieldName, isFieldValue } from '../lib/http-field.js';
import type { ClientResponse } from './client-response.js';
import { wireValue } from './forward-headers.js';

/** What the stream holds before write() says to wait. */
const STREAM_HIGH_WATER = 1024 * 1024;
/** What a module may write past that signal before it is cut off. */
const AHEAD_LIMIT = 16 * 1024 * 1024;
/** Statuses whose answers never carry a body (RFC 9110 §6.4.1). */
const NO_BODY_STATUS = new Set([204, 304]);
/** uWS writes these itself, or they belong to the connection rather than the answer. */
const WEBSOCKSY_HEADERS = new Set(['connection', 'transfer-encoding', 'keep-alive', 'upgrade', 'date']);
const EMPTY = Buffer.alloc(0);

function bytesOf(chunk: string | Uint8Array): Buffer {
  if (typeof chunk === 'string') return Buffer.from(chunk, 'utf8');
  if (chunk instanceof Uint8Array) return Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
  throw new TypeError('a body chunk is a string or a Uint8Array (a Buffer)');
}

/**
 * `promise`, marked as handled: a module that drops it unawaited must not turn a client that
 * left into an unhandled rejection, which ends the process. A module that awaits it still sees
 * the rejection.
 */
function handled<T>(promise: Promise<T>): Promise<T> {
  promise.catch(() => undefined);
  return promise;
}

interface DrainWaiter {
  resolve(): void;
  reject(error: Error): void;
}

export interface ResponseEvents {
  /** The module ended its answer: the rest of the request body is no longer wanted. */
  ending(): void;
  /** The answer reached the client whole (null), or was cut on the way (why). */
  finished(error: Error | null): void;
}

export class ModuleResponse implements RouteResponse {
  private code = 200;
  /** By lower-case name: the name as the module wrote it, and its values. */
  private readonly headers = new Map<string, readonly [string, readonly string[]]>();
  private declaredLength: number | null = null;
  private stream: PassThrough | null = null;
  private written = 0;
  private endCalled = false;
  private abortReason: Error | null = null;
  private readonly abortHandlers: Array<() => void> = [];
  private drainWaiters: DrainWaiter[] = [];

  constructor(
    private readonly answer: ClientResponse,
    /** A HEAD request: the answer says what GET would, without the body. */
    private readonly head: boolean,
    /** The exchange, closed alone when a module's handler faults. */
    private readonly owner: Guarded,
    private readonly events: ResponseEvents,
  ) {}

  get status(): number {
    return this.code;
  }

  set status(code: number) {
    if (this.aborted) return;
    this.checkHeadOpen('status');
    if (!Number.isInteger(code) || code < 200 || code > 599) throw new RangeError(`status ${String(code)} is not a whole number from 200 to 599`);
    this.code = code;
  }

  get headersSent(): boolean {
    return this.answer.headersSent;
  }

  get aborted(): boolean {
    return this.abortReason !== null;
  }

  setHeader(name: string, value: string | readonly string[]): void {
    if (this.aborted) return;
    this.checkHeadOpen('setHeader');
    if (typeof name !== 'string' || !isFieldName(name)) throw new TypeError(`"${String(name)}" is not a header name`);
    const lower = name.toLowerCase();
    if (WEBSOCKSY_HEADERS.has(lower)) throw new Error(`${name} is set by websocksy`);
    const values: readonly unknown[] = Array.isArray(value) ? value : [value];
    for (const one of values) if (typeof one !== 'string' || !isFieldValue(one)) throw new TypeError(`a value of ${name} is no string, or holds a control character`);
    const texts = values as readonly string[];
    if (lower !== 'content-length') {
      this.headers.set(lower, [name, texts]);
      return;
    }
    const length = texts.length === 1 && /^\d{1,15}$/.test(texts[0] as string) ? Number(texts[0]) : NaN;
    if (Number.isNaN(length)) throw new TypeError(`Content-Length "${texts.join(', ')}" is not one decimal length`);
    this.declaredLength = length;
  }

  write(chunk: string | Uint8Array): boolean {
    if (this.aborted) return false;
    if (this.endCalled) throw new Error('write() after end()');
    const bytes = bytesOf(chunk);
    this.count(bytes.length);
    const stream = this.bodyStream();
    if (stream === null || bytes.length === 0) return true;
    if (stream.writableLength > AHEAD_LIMIT) {
      reportFault(this.owner, 'route module response', new Error(`the module wrote ${stream.writableLength} bytes on after write() returned false (limit ${AHEAD_LIMIT})`));
      return false;
    }
    return stream.write(bytes);
  }

  drained(): Promise<void> {
    if (this.abortReason !== null) return handled(Promise.reject(this.abortReason));
    if (this.stream === null || !this.stream.writableNeedDrain) return Promise.resolve();
    return handled(new Promise((resolve, reject) => this.drainWaiters.push({ resolve, reject })));
  }

  end(chunk?: string | Uint8Array): void {
    if (this.aborted) return;
    if (this.endCalled) throw new Error('end() called twice');
    const bytes = chunk === undefined ? EMPTY : bytesOf(chunk);
    // The whole body in one piece: its length is known, and the client is told it.
    if (this.stream === null && this.written === 0 && this.declaredLength === null) this.declaredLength = bytes.length;
    this.count(bytes.length);
    this.endCalled = true;
    this.events.ending();
    const stream = this.bodyStream();
    if (stream !== null) {
      stream.end(bytes);
      return;
    }
    const reported = this.head ? this.declaredLength : null;
    this.answer.res.cork(() => {
      this.answer.writeHead(this.statusLine(), this.headerList());
      this.answer.endWithoutBody(reported);
    });
    this.events.finished(null);
  }

  onAborted(handler: () => void): void {
    if (typeof handler !== 'function') throw new TypeError('onAborted takes a function');
    if (this.abortReason !== null) runGuardedAsync(this.owner, 'route module onAborted', handler);
    else this.abortHandlers.push(handler);
  }

  /** The exchange ended before the answer did (`why`): the module's waits fail and its abort handlers run. */
  abort(why: Error): void {
    if (this.abortReason !== null) return;
    this.abortReason = why;
    this.stream?.destroy();
    for (const waiter of this.drainWaiters) waiter.reject(why);
    this.drainWaiters = [];
    for (const handler of this.abortHandlers.splice(0)) runGuardedAsync(this.owner, 'route module onAborted', handler);
  }

  private checkHeadOpen(what: string): void {
    if (this.headersSent || this.endCalled) throw new Error(`${what}: the status and headers have gone out already`);
  }

  private count(length: number): void {
    if (this.declaredLength !== null && this.written + length > this.declaredLength) {
      throw new RangeError(`the body is longer than its Content-Length (${this.declaredLength} bytes)`);
    }
    this.written += length;
  }

  /** The stream the body goes out through, started with the head on first use; null for an answer without a body. */
  private bodyStream(): PassThrough | null {
    if (this.stream !== null) return this.stream;
    // Without a body, the head waits for end(): a HEAD answer reports the length GET's would have.
    if (this.head || NO_BODY_STATUS.has(this.code)) return null;
    const stream = new PassThrough({ highWaterMark: STREAM_HIGH_WATER });
    this.stream = stream;
    stream.on('drain', () => {
      for (const waiter of this.drainWaiters) waiter.resolve();
      this.drainWaiters = [];
    });
    this.answer.res.cork(() => this.answer.writeHead(this.statusLine(), this.headerList()));
    this.answer.sendBody(stream, this.declaredLength, (error) => this.events.finished(error));
    return stream;
  }

  private statusLine(): string {
    return `${this.code} ${STATUS_CODES[this.code] ?? 'Status'}`;
  }

  /** The headers as they go on the wire: a value's characters as UTF-8 bytes, one per latin1 character. */
  private headerList(): Array<readonly [string, string]> {
    const list: Array<readonly [string, string]> = [];
    for (const [name, values] of this.headers.values()) for (const value of values) list.push([name, wireValue(value)]);
    return list;
  }
}
