/*
 * A plain HTTP request held while a slow check (a password hash, a JWT signature) decides
 * whether it may go on. uWS hands a request's body only to an onData set in the request
 * handler itself and drops what arrives without one, so the body is taken here at once: the
 * socket is paused (what the current read already holds, at most one receive buffer, is kept),
 * and whoever serves the request later gets, through `response`, the kept chunks first and
 * then the rest, with its own pause() and resume() working as on uWS's response.
 */
import type { HttpResponse } from 'uWebSockets.js';
import { guarded, type Guarded } from '../lib/guard.js';

type BodyHandler = (chunk: ArrayBuffer, isLast: boolean) => void;

export class HeldRequest {
  /** The client went away while the request was held. */
  aborted = false;
  /** What the request is served through once the check is done. */
  readonly response: HttpResponse;
  private readonly kept: Array<{ readonly chunk: ArrayBuffer; readonly isLast: boolean }> = [];
  private consumer: BodyHandler | null = null;
  private consumerPaused = false;
  private socketPaused = false;
  private delivering = false;

  constructor(
    private readonly res: HttpResponse,
    hasBody: boolean,
    /** Who a throw while handing the body on closes. */
    private readonly owner: Guarded,
  ) {
    // Replaced by the server's own handler once the request is served.
    res.onAborted(() => {
      this.aborted = true;
    });
    if (!hasBody) {
      this.response = res;
      return;
    }
    res.onData((chunk, isLast) => this.arrived(chunk, isLast));
    res.pause();
    this.socketPaused = true;
    this.response = new Proxy(res, {
      get: (target, property) => {
        if (property === 'onData') return (handler: BodyHandler) => this.take(handler);
        if (property === 'onAborted') return (handler: () => void) => this.onAborted(handler);
        if (property === 'pause') return () => this.pause();
        if (property === 'resume') return () => this.resume();
        const value: unknown = Reflect.get(target, property);
        return typeof value === 'function' ? (value as (...args: unknown[]) => unknown).bind(target) : value;
      },
    });
  }

  private arrived(chunk: ArrayBuffer, isLast: boolean): void {
    if (this.consumer !== null && !this.consumerPaused && this.kept.length === 0) {
      this.consumer(chunk, isLast);
      return;
    }
    // uWS reuses the chunk's memory after this call.
    this.kept.push({ chunk: chunk.slice(0), isLast });
  }

  private take(handler: BodyHandler): HttpResponse {
    this.consumer = handler;
    // The socket reads on at once (what arrives is kept behind the kept chunks, so the order
    // holds): whoever took the body may end the response before the kept chunks are handed
    // on, and a response ended on a paused socket leaves the connection paused for good.
    if (!this.consumerPaused) this.resumeSocket();
    // The kept chunks after the caller is done setting up, as a body from uWS would come.
    setImmediate(guarded(this.owner, 'held request body', () => this.deliver()));
    return this.response;
  }

  /** The server's abort handler, which must also stop this from touching the response. */
  private onAborted(handler: () => void): HttpResponse {
    this.res.onAborted(() => {
      this.aborted = true;
      handler();
    });
    return this.response;
  }

  private pause(): HttpResponse {
    this.consumerPaused = true;
    if (!this.socketPaused && !this.aborted) {
      this.socketPaused = true;
      this.res.pause();
    }
    return this.response;
  }

  private resume(): HttpResponse {
    this.consumerPaused = false;
    this.deliver();
    return this.response;
  }

  /** Hands the kept chunks on while the consumer takes them, then lets the socket read again. */
  private deliver(): void {
    if (this.delivering || this.aborted) return;
    this.delivering = true;
    try {
      while (this.consumer !== null && !this.consumerPaused && this.kept.length > 0) {
        const { chunk, isLast } = this.kept.shift() as { chunk: ArrayBuffer; isLast: boolean };
        this.consumer(chunk, isLast);
      }
    } finally {
      this.delivering = false;
    }
    if (this.consumer !== null && !this.consumerPaused && this.kept.length === 0) this.resumeSocket();
  }

  private resumeSocket(): void {
    if (!this.socketPaused || this.aborted) return;
    this.socketPaused = false;
    this.res.resume();
  }
}
