/*
 * One keep-alive connection of a route's pool (h1-pool.ts) to an http:// upstream, carrying
 * one exchange at a time: the request head in one write, the body as it comes (chunked when
 * the client's had no length), the response through the parser straight from the process's
 * shared read buffer to the exchange (lib/shared-read.ts), so a response allocates no read
 * buffers. The exchange's onData may ask to wait: the socket stops reading, and what was left
 * of its last read is copied until `resume`.
 */
import type { LookupFunction, Socket } from 'node:net';
import { errorCode } from '../lib/errors.js';
import { reportFault, runGuarded, type Guarded } from '../lib/guard.js';
import type { LogFields } from '../lib/log.js';
import { connectSharedRead } from '../lib/shared-read.js';
import { pieceWritten } from '../lib/pooled-pieces.js';
import { Fed, ResponseParser, UpstreamProtocolError, type ResponseEvents } from './h1-response-parser.js';
import type { UpstreamHandler, UpstreamRequest } from './upstream-pool.js';

/** What the connection asks of its pool. */
export interface ConnectionOwner {
  /** The exchange is complete and the connection may carry another. */
  released(connection: H1Connection): void;
  /** The connection is gone (closed, failed, or not to be trusted again). */
  gone(connection: H1Connection): void;
  /** A request that failed on a reused connection before any answer goes once more on a new one. */
  retry(request: UpstreamRequest, handler: UpstreamHandler): void;
}

class UpstreamClosedError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UpstreamClosedError';
  }
}

/** How long a connection may take to open (undici's default, which the pool had before). */
const CONNECT_TIMEOUT_MS = 10_000;

/** Methods a proxy may send again (RFC 9110 §9.2.1-2). */
const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);
const RESET_CODES = new Set(['ECONNRESET', 'EPIPE']);

class UpstreamConnectTimeoutError extends Error {
  constructor() {
    super(`no connection within ${CONNECT_TIMEOUT_MS / 1000} s`);
    this.name = 'UpstreamConnectTimeoutError';
  }
}

class RequestAbortedError extends Error {
  constructor() {
    super('request aborted');
    this.name = 'RequestAbortedError';
  }
}

export class H1Connection implements ResponseEvents, Guarded {
  private readonly socket: Socket;
  private readonly parser = new ResponseParser(this);
  private handler: UpstreamHandler | null = null;
  private request: UpstreamRequest | null = null;
  /** The request's body is still going up. */
  private uploading = false;
  private chunked = false;
  /** A byte of the answer came. */
  private answered = false;
  /** Requests this connection has carried, the current one included. */
  private served = 0;
  /** While the exchange waits: what was left of the read it asked to wait in (copied, maybe empty). */
  private held: Buffer | null = null;
  private closed = false;
  /** When the connection last went back to the pool. */
  idleSince = 0;

  constructor(
    private readonly url: URL,
    lookup: LookupFunction | undefined,
    private readonly owner: ConnectionOwner,
  ) {
    const port = url.port === '' ? 80 : Number(url.port);
    // The brackets of an IPv6 literal are the URL's, not the address's.
    const host = url.hostname.startsWith('[') ? url.hostname.slice(1, -1) : url.hostname;
    this.socket = connectSharedRead({ host, port, noDelay: true, ...(lookup === undefined ? {} : { lookup }) });
    // A request with a body is timed from its end, which waits for the connection: an upstream
    // that never answers the SYN would otherwise hold it until the kernel gives up (minutes).
    const connecting = setTimeout(() => runGuarded(this, 'upstream connect timeout', () => this.fail(new UpstreamConnectTimeoutError())), CONNECT_TIMEOUT_MS);
    this.socket.once('connect', () => clearTimeout(connecting));
    this.socket.once('close', () => clearTimeout(connecting));
    this.socket.on('data', (chunk: Buffer) => {
      try {
        this.onRead(chunk);
      } catch (error) {
        reportFault(this, 'upstream response', error);
      }
    });
    this.socket.on('drain', () => runGuarded(this, 'upstream drain', () => this.request?.body?.resume()));
    this.socket.on('end', () => runGuarded(this, 'upstream end', () => this.onEnd()));
    this.socket.on('error', (error: Error) => runGuarded(this, 'upstream error', () => this.fail(error)));
    this.socket.on('close', () => runGuarded(this, 'upstream close', () => this.fail(new UpstreamClosedError('the upstream closed the connection'))));
  }

  get logFields(): LogFields {
    return { upstream: this.url.origin };
  }

  abortAfterFault(reason: string): void {
    this.fail(new Error(reason));
  }

  /** The upstream's Keep-Alive timeout for this connection, 0 when it named none. */
  get keepAliveHintMs(): number {
    return this.parser.keepAliveHintMs;
  }

  get usable(): boolean {
    return !this.closed && !this.socket.destroyed;
  }

  send(request: UpstreamRequest, handler: UpstreamHandler): void {
    this.handler = handler;
    this.request = request;
    this.served++;
    this.answered = false;
    this.parser.start(request.method);
    handler.onConnect((error) => this.abort(handler, error));
    if (this.handler !== handler) return;
    const { headers, body } = request;
    let head = `${request.method} ${request.path} HTTP/1.1\r\n`;
    for (const name in headers) {
      const value = headers[name] as string | string[];
      if (typeof value === 'string') head += `${name}: ${value}\r\n`;
      else for (const one of value) head += `${name}: ${one}\r\n`;
    }
    this.chunked = body !== null && headers['content-length'] === undefined;
    if (this.chunked) head += 'transfer-encoding: chunked\r\n';
    if (request.reset) head += 'connection: close\r\n';
    this.socket.write(`${head}\r\n`, 'latin1');
    if (body === null) {
      handler.onRequestSent();
      return;
    }
    this.uploading = true;
    // A body resumed after a pause emits from the stream's own tick, outside any caller's guard.
    body.on('data', (chunk: Buffer) => runGuarded(this, 'upstream upload', () => this.upload(handler, chunk)));
    body.once('end', () => runGuarded(this, 'upstream upload end', () => this.uploaded(handler)));
    body.once('error', (error: Error) => runGuarded(this, 'upstream upload error', () => this.abort(handler, error)));
  }

  private upload(handler: UpstreamHandler, chunk: Buffer): void {
    if (this.handler !== handler || chunk.length === 0) return;
    let room: boolean;
    if (this.chunked) {
      this.socket.cork();
      this.socket.write(`${chunk.length.toString(16)}\r\n`, 'latin1');
      this.socket.write(chunk, () => pieceWritten(chunk));
      room = this.socket.write('\r\n', 'latin1');
      this.socket.uncork();
    } else room = this.socket.write(chunk, () => pieceWritten(chunk));
    if (!room) this.request?.body?.pause();
  }

  private uploaded(handler: UpstreamHandler): void {
    if (this.handler !== handler) return;
    this.uploading = false;
    if (this.chunked) this.socket.write('0\r\n\r\n', 'latin1');
    handler.onRequestSent();
  }

  private onRead(chunk: Buffer): void {
    if (this.handler === null) {
      // Nothing was asked: an idle connection that talks is not trusted again.
      this.destroy();
      return;
    }
    this.answered = true;
    this.parse(chunk);
  }

  private parse(chunk: Buffer): void {
    const handler = this.handler;
    if (handler === null) return;
    let fed: Fed;
    try {
      fed = this.parser.feed(chunk, 0);
    } catch (error) {
      if (!(error instanceof UpstreamProtocolError)) throw error;
      this.fail(error);
      return;
    }
    if (fed === Fed.paused) {
      this.held = Buffer.from(chunk.subarray(this.parser.stoppedAt));
      this.socket.pause();
    } else if (fed === Fed.complete) {
      // Bytes past the response belong to no request: the connection is not trusted again.
      if (this.parser.stoppedAt < chunk.length) this.parser.keepAlive = false;
      this.complete(handler);
    }
  }

  /** The exchange's `resume`: what was held goes first, then the socket reads again. */
  private readonly resume = (): void => {
    const held = this.held;
    if (held === null || this.handler === null) return;
    this.held = null;
    if (held.length > 0) this.parse(held);
    // Unless the exchange asked to wait again, within what was held.
    if (this.held === null && this.usable) this.socket.resume();
  };

  onHead(status: number, statusText: string, rawHeaders: string[]): void {
    // A 408 on a reused connection is the upstream timing the connection out as this request
    // went out (some servers say so with a 408 before they close): the request was never
    // taken, and one that may be repeated goes again on a new connection (RFC 9110 §15.5.9).
    const request = this.request;
    if (status === 408 && request !== null && this.mayRepeat(request)) {
      this.fail(new UpstreamClosedError('the upstream answered 408 to a request on a reused connection'), true);
      return;
    }
    this.handler?.onHeaders(status, rawHeaders, this.resume, statusText);
  }

  onBody(chunk: Buffer): boolean {
    return this.handler?.onData(chunk) ?? true;
  }

  private complete(handler: UpstreamHandler): void {
    handler.onComplete();
    if (this.handler !== handler) return;
    if (this.uploading) {
      // Answered before the upload ended: the rest is not wanted, and the connection cannot
      // carry another request while it is owed.
      this.uploading = false;
      this.parser.keepAlive = false;
    }
    this.finish();
  }

  /** Response and request are both over: back to the pool, or closed. */
  private finish(): void {
    const request = this.request;
    this.handler = null;
    this.request = null;
    this.parser.stop();
    if (request === null) return;
    if (this.parser.keepAlive && !request.reset && this.usable) {
      this.idleSince = Date.now();
      this.owner.released(this);
    } else this.destroy();
  }

  private onEnd(): void {
    const handler = this.handler;
    if (handler !== null && this.parser.closed()) {
      this.parser.keepAlive = false;
      this.complete(handler);
      return;
    }
    this.fail(new UpstreamClosedError(this.closedWhy()));
  }

  private closedWhy(): string {
    if (this.parser.headDone) return 'the upstream closed the connection in the middle of the response';
    const held = this.parser.partialHeadBytes;
    // An upstream that ends its lines with a bare LF lands here: its head never ends.
    if (held > 0) return `the upstream closed the connection in the middle of its response head (${held} bytes, no CRLF CRLF ending it)`;
    return 'the upstream closed the connection before its answer';
  }

  /** The exchange's abort: the connection goes with it. */
  private abort(handler: UpstreamHandler, error: Error | undefined): void {
    if (this.handler !== handler) return;
    this.fail(error ?? new RequestAbortedError());
  }

  /** The connection is lost: the exchange on it fails (or goes once more, see below), and the pool forgets it. */
  private fail(error: Error, timedOut = false): void {
    const handler = this.handler;
    const request = this.request;
    this.handler = null;
    this.request = null;
    this.uploading = false;
    this.parser.stop();
    this.destroy();
    if (handler === null || request === null) return;
    request.body?.pause();
    // A kept-alive connection the upstream closed as this request went out (its idle timeout
    // and our reuse crossed): nothing came back, and the request goes again as it was.
    const closedUnanswered = !this.answered && (error instanceof UpstreamClosedError || RESET_CODES.has(errorCode(error)));
    if ((timedOut || closedUnanswered) && this.mayRepeat(request)) this.owner.retry(request, handler);
    else handler.onError(error);
  }

  /** Safe to repeat, with no body, and on a reused connection: a new one goes only once. */
  private mayRepeat(request: UpstreamRequest): boolean {
    return this.served > 1 && request.body === null && SAFE_METHODS.has(request.method);
  }

  destroy(): void {
    if (this.closed) return;
    this.closed = true;
    this.held = null;
    this.socket.destroy();
    this.owner.gone(this);
  }
}
