/*
 * One request through an HTTP route: the client's method, path (under the route's base),
 * query, headers and body go upstream through the route's dispatcher (upstream-pool.ts); the
 * upstream's status, headers and body come back (response-relay.ts). Both bodies stream with
 * backpressure: uWS pauses reading the client while the upstream request is full, and the
 * dispatcher stops reading the upstream while the client's socket is full. Failures before the
 * response head: 502 unreachable or broken, 504 too slow, counted from the moment the whole
 * request was sent (a slow upload is the client's time, not the upstream's), 403 when the
 * upstream's name resolves outside the route's allow; the log says why. The route's timeout
 * also bounds an upstream that stands still on either side of the head (see Waiting):
 * one that takes none of the upload gets 504, one whose body stops is cut. Every dispatcher
 * callback runs behind the guard.
 */
import { Readable } from 'node:stream';
import type { HttpResponse } from 'uWebSockets.js';
import { hostLimitRefusal } from '../core/refusal.js';
import { addressFields, type ClientRequest } from '../core/request.js';
import { DestinationDenied } from '../lib/destination-allow.js';
import { errorCode, errorMessage, isHostLimit } from '../lib/errors.js';
import { reportFault, runGuarded } from '../lib/guard.js';
import { isVerbose, log, type LogFields } from '../lib/log.js';
import { ClientResponse, type BodySink } from './client-response.js';
import { upstreamRequestHeaders } from './forward-headers.js';
import { relayHead } from './response-relay.js';
import type { Route } from './route-table.js';
import { copyIntoPieces } from '../lib/pooled-pieces.js';
import type { UpstreamConnection, UpstreamHandler, UpstreamRequest } from './upstream-pool.js';
import { upstreamPath } from './upstream-path.js';

export interface ProxyTarget {
  readonly route: Route;
  readonly base: URL;
  readonly connection: UpstreamConnection;
  /** Names the upstream in the log (a URL, or a URL and the tunnel). */
  readonly label: string;
  /** The client is a trusted proxy (see forward-headers.ts). */
  readonly trustedClient: boolean;
  /** How the client reached this listener. */
  readonly clientProto: 'http' | 'https';
  /** Changes the headers sent upstream (a relay to a sibling worker adds the cluster's). */
  readonly adjustHeaders?: (headers: Record<string, string | string[]>) => void;
}

class UpstreamTimeoutError extends Error {
  constructor(readonly ms: number) {
    super(`no response head within ${ms} ms of the request being sent`);
    this.name = 'UpstreamTimeoutError';
  }
}

/** The upstream stood still with the exchange half done: it took no byte of the upload, or sent no byte of its body. */
class UpstreamStallError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UpstreamStallError';
  }
}

/** Forwards the request; call from the uWS handler itself (the body's onData must be set there). */
export function proxyHttp(res: HttpResponse, client: ClientRequest, target: ProxyTarget): void {
  const { route, base } = target;
  const answer = ClientResponse.answering(res, client);
  const headers = upstreamRequestHeaders(client.headers, {
    hopAddress: client.hopAddress,
    proto: target.clientProto,
    host: route.host === 'keep' ? 'keep' : base.host,
    trustedClient: target.trustedClient,
  });
  target.adjustHeaders?.(headers);
  const exchange = new UpstreamExchange(answer, client, target);
  answer.whenAborted(() => exchange.clientGone());
  const body = client.hasBody ? requestBody(answer, exchange) : null;
  // Once the response is over, so is the upload: the dispatcher sends no more of it.
  if (body !== null) answer.dropBodyLeftAtEnd();
  // A body without a length (the client's was chunked) goes up chunked: the dispatchers frame
  // a stream of unknown length so, for every method.
  const options: UpstreamRequest = {
    method: client.method,
    path: upstreamPath(route, base.pathname, client),
    headers,
    body,
    // A one-shot connection serves this request alone: the upstream may close it after.
    reset: target.connection.oneShot,
  };
  if (body !== null) exchange.timeUpload(body);
  target.connection.dispatcher.dispatch(options, exchange);
}

/** Counts the request body's bytes as they arrive from the client. */
interface UploadTally {
  received: number;
}

/** The client's body as a stream for the dispatcher: uWS's reading pauses while the upstream's side is full. */
function requestBody(answer: ClientResponse, tally: UploadTally): Readable {
  const body = new Readable({ read: () => answer.resumeBody() });
  answer.onBody((chunk, isLast) => {
    tally.received += chunk.byteLength;
    // uWS reuses the chunk's memory after this call: copy it.
    let room = true;
    for (const piece of copyIntoPieces(new Uint8Array(chunk))) room = body.push(piece);
    if (isLast) {
      // The body is all read: reading on is the next request's business, and a socket left
      // paused past its response breaks the connection's keep-alive.
      answer.resumeBody();
      body.push(null);
      return;
    }
    if (!room) answer.pauseBody();
  });
  return body;
}

/** A header name or value as latin1 text: our pool's are already, undici's are bytes. */
function latin1(field: Buffer | string): string {
  return typeof field === 'string' ? field : field.toString('latin1');
}

/**
 * What the exchange's timer is timing. `upload`: the client's body is on its way up, and the
 * upstream must take some of it in every `timeout` while some waits for it (time the client
 * takes to send is its own). `head`: the request is sent; the head is due within `timeout`.
 * `body`: the upstream must send a byte of its body in every `timeout` while the client takes
 * them (time spent waiting for a slow client is the client's: uWS drops one that takes nothing
 * for its HTTP idle timeout). A check runs every `timeout`, so a stall is noticed one to two of
 * them after the last byte, as a route module's is (module-exchange.ts); no timer is touched
 * per chunk.
 */
type Waiting = 'upload' | 'head' | 'body';

/** The dispatcher's handler for one request: the timer, the client going away, and the response's relay. */
class UpstreamExchange implements UpstreamHandler, UploadTally {
  private readonly started = Date.now();
  private abortUpstream: ((error?: Error) => void) | null = null;
  private clientLeft = false;
  private timer: NodeJS.Timeout | null = null;
  private waiting: Waiting = 'head';
  private upload: Readable | null = null;
  /** Bytes of the request body that arrived from the client. */
  received = 0;
  /** Bytes of the request body the upstream had taken at the last check. */
  private takenAtCheck = 0;
  /**
   * The response body's moves: a piece arrived, or the client took what it had been given.
   * How many there had been at the last check (-1: the head came since).
   */
  private bodyMoves = 0;
  private bodyMovesAtCheck = -1;
  /** The client's socket is full: the upstream is not read until it drains. */
  private waitingOnClient = false;
  private status = 0;
  /** Where the response body goes, once its head went out. */
  private sink: BodySink | null = null;
  private finished = false;

  constructor(
    private readonly answer: ClientResponse,
    private readonly client: ClientRequest,
    private readonly target: ProxyTarget,
  ) {}

  /** Built only when a line is logged: most requests log nothing. */
  private fields(): LogFields {
    const { client, target } = this;
    return { id: client.id, route: target.route.prefix, method: client.method, path: client.path, upstream: target.label, ...addressFields(client) };
  }

  clientGone(): void {
    this.stopTimer();
    this.clientLeft = true;
    this.abortUpstream?.();
    log.info('http aborted', { ...this.fields(), why: 'client went away before the response', ms: Date.now() - this.started });
  }

  onConnect(abort: (error?: Error) => void): void {
    if (this.clientLeft) abort();
    else this.abortUpstream = abort;
  }

  /** The request has a body: the upstream's taking of it is timed until it is all sent. */
  timeUpload(body: Readable): void {
    this.upload = body;
    this.waiting = 'upload';
    this.startTimer();
  }

  onRequestSent(): void {
    // An upstream may answer before the upload ends: its body is timed already.
    if (this.waiting === 'body' || this.finished) return;
    runGuarded(this.answer, 'upstream request sent', () => {
      this.waiting = 'head';
      if (this.timer === null) this.startTimer();
      else this.timer.refresh();
    });
  }

  private startTimer(): void {
    this.timer = setTimeout(() => this.check(), this.target.route.timeoutMs);
  }

  private check(): void {
    runGuarded(this.answer, 'upstream timer', () => {
      const ms = this.target.route.timeoutMs;
      if (this.waiting === 'head') {
        this.abortUpstream?.(new UpstreamTimeoutError(ms));
        return;
      }
      if (this.waiting === 'upload') {
        const upload = this.upload as Readable;
        const taken = this.received - upload.readableLength;
        // Bytes wait for the upstream in the body, or in the connection, whose writer paused
        // the body (what it has written may wait in its socket's queue, behind a full kernel).
        const held = upload.readableLength > 0 || upload.isPaused();
        if (held && taken === this.takenAtCheck) {
          this.abortUpstream?.(new UpstreamStallError(`the upstream took no byte of the request body for ${ms} ms (${taken} bytes of it went out)`));
          return;
        }
        this.takenAtCheck = taken;
      } else {
        if (this.bodyMoves === this.bodyMovesAtCheck && !this.waitingOnClient) {
          this.abortUpstream?.(new UpstreamStallError(`no byte of the response body came for ${ms} ms`));
          return;
        }
        this.bodyMovesAtCheck = this.bodyMoves;
      }
      this.timer?.refresh();
    });
  }

  onHeaders(status: number, rawHeaders: ReadonlyArray<Buffer | string>, resume: () => void, statusText: string): boolean {
    // 1xx answers are the upstream's business with us; the client gets the final one.
    if (status < 200) return true;
    // The timer runs on: the body is timed too (its first check counts the head as progress).
    this.waiting = 'body';
    const { answer } = this;
    if (!answer.usable) {
      this.stopTimer();
      this.abortUpstream?.();
      return false;
    }
    this.status = status;
    runGuarded(answer, 'upstream response', () => {
      // Our pool's are strings already: no copy of the list for them.
      const names = typeof rawHeaders[0] === 'string' ? (rawHeaders as readonly string[]) : rawHeaders.map(latin1);
      const resumeUpstream = (): void => {
        // A move: the upstream's next piece may not be read before the timer's next check.
        this.bodyMoves++;
        this.waitingOnClient = false;
        resume();
      };
      this.sink = relayHead(answer, this.client.method, { status, statusText, rawHeaders: names }, (error) => this.relayed(error), resumeUpstream, () => this.abortUpstream?.());
    });
    return true;
  }

  onData(chunk: Buffer): boolean {
    this.bodyMoves++;
    const sink = this.sink;
    // No body expected (HEAD, 204, 304), or the answer failed: what comes is dropped.
    if (sink === null) return true;
    try {
      const room = sink.write(chunk);
      if (!room) this.waitingOnClient = true;
      return room;
    } catch (error) {
      reportFault(this.answer, 'upstream body', error);
      return true;
    }
  }

  onComplete(): void {
    this.stopTimer();
    this.target.connection.exchangeComplete?.();
    this.done(true);
    runGuarded(this.answer, 'upstream end', () => this.sink?.end());
  }

  onError(error: Error): void {
    this.stopTimer();
    this.done(false);
    runGuarded(this.answer, 'upstream error', () => {
      const { answer } = this;
      if (this.sink !== null) {
        // The head waits for the body's first piece (holdHead): when the body broke before it,
        // nothing went out, and the client gets a 502 rather than a head and a cut.
        if (!answer.withdrawHeldHead()) {
          this.sink.fail(error);
          return;
        }
        this.sink = null;
      }
      if (!answer.usable) return;
      if (error instanceof DestinationDenied) {
        log.warn('http upstream refused', { ...this.fields(), status: 403, why: error.message });
        answer.fail('403 Forbidden', 'Forbidden');
        return;
      }
      if (isHostLimit(errorCode(error))) {
        const refusal = hostLimitRefusal(errorMessage(error));
        log.warn('http upstream failed', { ...this.fields(), status: refusal.status, why: refusal.detail });
        answer.refuse(refusal);
        return;
      }
      const stalled = error instanceof UpstreamStallError;
      const timedOut = stalled || error instanceof UpstreamTimeoutError;
      log.warn('http upstream failed', { ...this.fields(), status: timedOut ? 504 : 502, why: errorMessage(error) });
      // An upload the upstream stopped taking is not waited for: the answer goes now, with
      // Connection: close, and the rest of the body is dropped as it comes.
      if (stalled) {
        answer.bodyPending = false;
        answer.fail('504 Gateway Timeout', 'Gateway timeout', {}, true);
      } else if (timedOut) answer.fail('504 Gateway Timeout', 'Gateway timeout');
      else answer.fail('502 Bad Gateway', 'Bad gateway');
    });
  }

  /** The client's side of the response is over: complete (null) or cut. */
  private relayed(error: Error | null): void {
    if (error === null) {
      if (isVerbose()) log.debug('http', { ...this.fields(), status: this.status, ms: Date.now() - this.started });
      return;
    }
    log.warn('http response cut', { ...this.fields(), status: this.status, why: errorMessage(error) });
    // The client went away, or its response failed: the upstream may stop sending.
    this.abortUpstream?.();
  }

  /** The exchange with the upstream is over: a one-shot client goes with it, its connection ended (`complete`) or cut. */
  private done(complete: boolean): void {
    if (this.finished) return;
    this.finished = true;
    if (!this.target.connection.oneShot) return;
    const { dispatcher } = this.target.connection;
    (complete ? dispatcher.close() : dispatcher.destroy()).catch((error: unknown) => log.debug('http upstream close', { id: this.client.id, why: errorMessage(error) }));
  }

  private stopTimer(): void {
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
  }
}
