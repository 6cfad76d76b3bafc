/*
 * Answering one HTTP client on a uWS listener: short failures, and bodies streamed from a
 * Readable with uWS's backpressure (tryEnd/write report a full socket; onWritable says when
 * to go on), so a response of any size never sits in memory. A uWS response is unusable once
 * aborted or ended; every write after the first callback is corked, as uWS requires. The uWS
 * callbacks it sets run behind the guard, with this response as the owner: a throw in one ends
 * this response (500 if nothing was sent yet, else a cut connection), nothing else.
 */
import type { Readable } from 'node:stream';
import type { HttpResponse } from 'uWebSockets.js';
import type { Refusal } from '../core/refusal.js';
import type { AnswerObserver } from '../core/request.js';
import { guarded, reportFault, type Guarded } from '../lib/guard.js';
import { responseDrain } from './response-drain.js';

export class ClientResponse implements Guarded {
  private isAborted = false;
  private isEnded = false;
  /** The status line went out: a failure can no longer be answered with a status. */
  private headSent = false;
  /** uWS's pause() is only undone by resume(); resume() on a response never paused breaks its keep-alive. */
  private paused = false;
  private onAbort: (() => void) | null = null;
  /** Counted among the responses a drain waits for (response-drain.ts). */
  private counted = true;
  /** A status line and headers that wait to go out with the body (holdHead). */
  private heldHead: { readonly status: string; readonly headers: ReadonlyArray<readonly [string, string]> } | null = null;
  /** The request's body has not all arrived (a fact, where bodyPending may be cleared to answer without waiting). */
  private bodyArriving: boolean;
  /** What is left of the request body when the answer ends is read and dropped (dropBodyLeftAtEnd). */
  private dropsBodyLeft = false;

  constructor(
    readonly res: HttpResponse,
    readonly id: number,
    /**
     * The request has a body not yet read to its end, and a failure waits for it: it is
     * answered once the rest is read and dropped, and the connection serves the client's next
     * request (a failure that closes the connection answers at once instead; see fail). Cleared
     * when the body's last chunk arrives (onBody), or by whoever decides not to wait.
     */
    public bodyPending = false,
    /** The request is a HEAD: answers carry the headers of their body, and no body. */
    private readonly headRequest = false,
    /** Told the status once it goes out; cleared then, as one request has one status. */
    private observer: AnswerObserver | undefined = undefined,
  ) {
    this.bodyArriving = bodyPending;
    responseDrain.answering();
    res.onAborted(() => {
      this.aborted = true;
      try {
        this.onAbort?.();
      } catch (error) {
        reportFault(this, 'response aborted', error);
      }
    });
  }

  /** The answer to `request`: its id, whether a body is still to come, whether it is a HEAD. */
  static answering(res: HttpResponse, request: { readonly id: number; readonly method: string; readonly hasBody?: boolean; readonly answerObserver?: AnswerObserver }): ClientResponse {
    return new ClientResponse(res, request.id, request.hasBody ?? false, request.method === 'HEAD', request.answerObserver);
  }

  get aborted(): boolean {
    return this.isAborted;
  }

  set aborted(value: boolean) {
    this.isAborted = value;
    this.recount();
  }

  /** Set once the last byte is handed to uWS; a drain waits for the responses that are not. */
  get ended(): boolean {
    return this.isEnded;
  }

  set ended(value: boolean) {
    this.isEnded = value;
    this.recount();
  }

  /** Keeps the drain's count in step with `usable` (a failure that waits for the body clears `ended` again). */
  private recount(): void {
    const usable = this.usable;
    if (usable === this.counted) return;
    this.counted = usable;
    if (usable) responseDrain.answering();
    else responseDrain.answered();
  }

  get logFields(): { id: number } {
    return { id: this.id };
  }

  get usable(): boolean {
    return !this.aborted && !this.ended;
  }

  abortAfterFault(): void {
    if (!this.usable) return;
    if (!this.headSent) {
      this.bodyPending = false;
      this.fail('500 Internal Server Error', 'Internal error', {}, true);
      return;
    }
    this.cut();
  }

  /** Closes the connection mid-answer: once the status has gone, a cut is the only honest signal left. */
  cut(): void {
    if (!this.usable) return;
    this.ended = true;
    this.res.close();
  }

  /** The status line went out. */
  get headersSent(): boolean {
    return this.headSent;
  }

  /** Called if the client goes away before the response ends. */
  whenAborted(handler: () => void): void {
    this.onAbort = handler;
  }

  /** Sets uWS's body callback, guarded. */
  onBody(handler: (chunk: ArrayBuffer, isLast: boolean) => void): void {
    this.res.onData((chunk, isLast) => {
      if (isLast) {
        this.bodyArriving = false;
        this.bodyPending = false;
      }
      try {
        handler(chunk, isLast);
      } catch (error) {
        reportFault(this, 'request body', error);
      }
    });
  }

  /** Answers with `refusal`; `closeConnection` for requests that leave the connection unusable. */
  refuse(refusal: Refusal, closeConnection = false): void {
    this.fail(refusal.statusLine, refusal.body, refusal.headers, closeConnection);
  }

  /**
   * A short plain-text answer; its body says nothing about internals (the log has the detail).
   * A connection to close while the request's body still arrives is closed by the client, not
   * here: uWS closes by shutting the socket down and closing it at once, and a close with
   * unread bytes in the receive queue is a reset, which can reach a client still sending before
   * it has read the answer (curl then reports "Send failure" and no status). So the answer
   * says `Connection: close`, and uWS reads and drops the rest of the body, as nginx's
   * lingering close does, until the client closes. What that costs is the client's own
   * connection: dropping holds no memory, and uWS ends a connection that stalls (its idle timeout).
   */
  fail(status: string, body: string, headers: Readonly<Record<string, string>> = {}, closeConnection = false): void {
    if (!this.usable) return;
    this.ended = true;
    if (this.bodyPending) {
      this.onBody((_chunk, isLast) => {
        if (!isLast) return;
        this.ended = false;
        this.fail(status, body, headers, closeConnection);
      });
      this.resumeBody();
      return;
    }
    // Draining: the client's next request must go to a new connection (response-drain.ts).
    const close = closeConnection || responseDrain.draining;
    const linger = close && this.bodyArriving;
    if (linger) this.dropRestOfBody();
    this.headSent = true;
    this.statusSent(status);
    this.res.cork(() => {
      this.res.writeStatus(status).writeHeader('Content-Type', 'text/plain; charset=utf-8');
      for (const [name, value] of Object.entries(headers)) this.res.writeHeader(name, value);
      if (linger) this.res.writeHeader('Connection', 'close');
      const closeNow = close && !linger;
      const text = `${body}\n`;
      if (!this.headRequest) this.res.end(text, closeNow);
      // uWS 20.30's endWithoutBody cannot also close (given arguments, it leaves the request
      // unanswered): a HEAD whose connection must close gets an empty body instead.
      else if (closeNow) this.res.end('', true);
      else this.endWithoutBody(Buffer.byteLength(text));
    });
  }

  /**
   * The body's reader is now one that drops, and the socket reads on: a response ended while
   * its socket is paused leaves the connection paused for good (the client, sending, would
   * block before it reads the answer). Call before the response ends.
   */
  private dropRestOfBody(): void {
    this.onBody(dropChunk);
    this.resumeBody();
  }

  /**
   * Whatever is left of the request body when this answer ends is not wanted by anyone (a
   * proxied exchange is over once its response is: the upstream answered before it took the
   * whole upload): it is then read and dropped. Without it, a body paused for backpressure
   * stayed paused past the answer, and a client that sends all before it reads blocked until
   * uWS's idle timeout reset its connection.
   */
  dropBodyLeftAtEnd(): void {
    this.dropsBodyLeft = true;
  }

  /** Called just before the answer ends (a paused socket must be resumed before, not after). */
  private bodyLeftBehind(): void {
    if (!this.dropsBodyLeft || !this.bodyArriving) return;
    this.dropsBodyLeft = false;
    this.dropRestOfBody();
  }

  /** Stops reading the request body (the upstream is full). */
  pauseBody(): void {
    if (this.paused || !this.usable) return;
    this.paused = true;
    this.res.pause();
  }

  resumeBody(): void {
    if (!this.paused || this.aborted) return;
    this.paused = false;
    this.res.resume();
  }

  /**
   * Writes the status line and headers (call corked); the body follows with sendBody or
   * endWithoutBody. Values are latin1 text, one character per byte, as node:http gives them.
   */
  writeHead(status: string, headers: ReadonlyArray<readonly [string, string]>): void {
    this.headSent = true;
    this.statusSent(status);
    // uWS writes a string as UTF-8: an upstream's obs-text (latin1 text here) goes as its bytes.
    this.res.writeStatus(latin1Bytes(status));
    for (const [name, value] of headers) this.res.writeHeader(name, latin1Bytes(value));
    if (responseDrain.draining) this.res.writeHeader('Connection', 'close');
  }

  /**
   * Like writeHead, but the status line and headers go out with the first piece of the body
   * written (one send for a small response, not two), or once the code that read the head has
   * run if no body came with it (an event stream's head must not wait for its first event).
   * From this call on, a failure can no longer be answered with a status.
   */
  holdHead(status: string, headers: ReadonlyArray<readonly [string, string]>): void {
    this.headSent = true;
    // The observer hears the status once it is written (writeHead), or once the client leaves
    // with it still held: a held head may yet be withdrawn (withdrawHeldHead).
    this.heldHead = { status, headers };
    queueMicrotask(() => {
      if (this.heldHead === null || !this.usable) return;
      try {
        this.res.cork(() => this.flushHead());
      } catch (error) {
        reportFault(this, 'response head', error);
      }
    });
  }

  /**
   * Forgets a head that is still held, none of it written: the answer can then fail with a status
   * of its own (the source failed before its first piece). False once the head went out.
   */
  withdrawHeldHead(): boolean {
    if (this.heldHead === null || !this.usable) return false;
    this.heldHead = null;
    this.headSent = false;
    return true;
  }

  /** `status` is decided: the observer hears its code. */
  private statusSent(status: string): void {
    const observer = this.observer;
    if (observer === undefined) return;
    this.observer = undefined;
    observer.answered(Number.parseInt(status, 10));
  }

  /** Writes a held head, if any (call corked). */
  private flushHead(): void {
    const held = this.heldHead;
    if (held === null) return;
    this.heldHead = null;
    this.writeHead(held.status, held.headers);
  }

  /** Ends a response that has no body (HEAD, 204, 304), reporting `contentLength` if known. */
  endWithoutBody(contentLength: number | null): void {
    this.bodyLeftBehind();
    this.ended = true;
    // Not endWithoutBody(length): in uWS 20.30 that leaves the response open, and the
    // connection's next request fails. The header written by hand is sent as is.
    if (contentLength !== null) this.res.writeHeader('Content-Length', String(contentLength));
    this.res.endWithoutBody();
  }

  /** Ends the response where its body stands (a chunked body's end, or a length of 0), the request's leftover body dropped first. */
  private endHere(): void {
    this.bodyLeftBehind();
    this.res.cork(() => {
      this.flushHead();
      this.res.end();
    });
  }

  /**
   * Streams `source` as the body: with `total` bytes as Content-Length (tryEnd), or chunked
   * when the length is unknown. `source` is paused while the client's socket is full. Calls
   * `done` with null when the body is complete, or with why it is not (the connection is
   * then closed: the status has gone, so a cut body is the only honest signal left).
   */
  sendBody(source: Readable, total: number | null, done: (error: Error | null) => void): void {
    const sink = this.openBody(total, done, () => source.resume(), () => source.destroy());
    if (total === 0) return;
    source.on('data', (chunk: Buffer) => {
      if (!sink.write(chunk)) source.pause();
    });
    source.on('end', () => sink.end());
    source.on('error', (error: Error) => sink.fail(error));
  }

  /**
   * The body as a sink a source pushes into, as sendBody describes: `write` returns false when
   * the client's socket is full, and `resume` is called once it has room again; `stop` is
   * called when the client goes away or a write fails (the source must stop). A body of length
   * 0 is ended at once (`resume` is called, so that the source drains).
   */
  openBody(total: number | null, done: (error: Error | null) => void, resume: () => void, stop: () => void): BodySink {
    const { res } = this;
    let pending: Buffer | null = null;
    let pendingOffset = 0;
    /** Body bytes uWS has taken, counted here rather than asked of uWS before every write. */
    let taken = 0;
    /** Body bytes handed over: taken, or waiting for the socket to drain. */
    const sent = (): number => (pending === null ? taken : pendingOffset + pending.length);
    const finish = (error: Error | null): void => {
      if (this.ended) return;
      this.ended = true;
      done(error);
    };
    this.whenAborted(() => {
      // A head still held when the client left was the answer decided all the same.
      if (this.heldHead !== null) this.statusSent(this.heldHead.status);
      stop();
      finish(new Error('client went away'));
    });
    // Registered only once a write finds the socket full: most responses never need it.
    let watching = false;
    const watchWritable = (): void => {
      if (watching) return;
      watching = true;
      res.onWritable(writable);
    };
    const writable = (offset: number): boolean => {
      try {
        if (pending === null) {
          resume();
          return true;
        }
        const rest = pending.subarray(offset - pendingOffset);
        if (rest.length === 0) {
          taken = pendingOffset + pending.length;
          pending = null;
          resume();
          return true;
        }
        const [ok, complete] = res.tryEnd(rest, total ?? 0);
        if (complete) finish(null);
        else if (ok) {
          taken = pendingOffset + pending.length;
          pending = null;
          resume();
        }
        return ok;
      } catch (error) {
        reportFault(this, 'response writable', error);
        return true;
      }
    };
    const sink: BodySink = {
      write: (chunk) => {
        if (!this.usable) return true;
        // An empty chunk has nothing to send, and uWS 20.57 takes an empty tryEnd() for the end
        // of the response: it reports it complete at whatever offset it had reached, and the
        // client, promised the whole Content-Length, sees the connection close. Whether the
        // source may go on is unchanged by it.
        if (chunk.length === 0) return pending === null;
        // uWS's tryEnd writes whatever it is given, past the length it announced: the client
        // would read the excess as the start of its next answer. A source that goes past its
        // length is broken, and the connection is cut rather than desynchronised.
        if (total !== null && sent() + chunk.length > total) {
          sink.fail(new Error(`the body went past its Content-Length of ${total} bytes`));
          stop();
          return false;
        }
        let room = true;
        try {
          res.cork(() => {
            this.flushHead();
            if (total === null) {
              room = res.write(chunk);
              if (!room) watchWritable();
              return;
            }
            if (sent() + chunk.length === total) this.bodyLeftBehind();
            const [ok, complete] = res.tryEnd(chunk, total);
            if (complete) finish(null);
            else if (ok) taken += chunk.length;
            else {
              // The chunk is the source's, valid during this call only (a view of a shared read
              // buffer, for one): what uWS did not take is copied.
              pending = Buffer.from(chunk);
              pendingOffset = taken;
              room = false;
              watchWritable();
            }
          });
        } catch (error) {
          stop();
          reportFault(this, 'response body', error);
        }
        return room;
      },
      end: guarded(this, 'response end', () => {
        if (!this.usable) return;
        if (total === null) {
          this.endHere();
          finish(null);
          return;
        }
        // All of it arrived, and what uWS could not take yet goes out from onWritable.
        if (pending !== null && pendingOffset + pending.length === total) return;
        // The length was promised and not delivered: the client must see a cut, not an end.
        // (Read the offset first: close() aborts the response, and uWS throws on any later call.)
        // Finished before close(), whose abort would otherwise report the client gone.
        res.cork(() => this.flushHead());
        finish(new Error(`body ended after ${res.getWriteOffset()} of ${total} bytes`));
        res.close();
      }),
      fail: guarded(this, 'response error', (error: Error) => {
        if (!this.usable) return;
        res.cork(() => this.flushHead());
        finish(error);
        res.close();
      }),
    };
    if (total === 0) {
      this.endHere();
      finish(null);
      resume();
    }
    return sink;
  }
}

function dropChunk(): void {}

/** `text` as uWS should write it: as is when ASCII, else its latin1 bytes (one byte per character). */
function latin1Bytes(text: string): string | Buffer {
  return /[^\x00-\x7f]/.test(text) ? Buffer.from(text, 'latin1') : text;
}

/** Where a response body goes (ClientResponse.openBody). */
export interface BodySink {
  /** Sends `chunk` (valid during the call only); false when the client's socket is full: wait for `resume`. */
  write(chunk: Buffer): boolean;
  /** The body is complete (a body shorter than its Content-Length cuts the connection). */
  end(): void;
  /** The source failed: the connection is cut. */
  fail(error: Error): void;
}
