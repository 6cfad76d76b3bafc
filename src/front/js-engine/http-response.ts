/*
 * uWS's HttpResponse over node's ServerResponse. For a request that came as an upgrade, node
 * hands over the raw socket: the response is then a ServerResponse of our own on that socket,
 * which either upgrades it (the WebSocket route's accept) or answers and closes it, as every
 * refused upgrade is.
 *
 * Semantics kept from uWS, because websocksy depends on them:
 * - onAborted is called once, when the client goes away (or close() is called) before the
 *   response ended or was upgraded; every call after that throws, as uWS's do.
 * - write()/tryEnd() report backpressure (false) and onWritable is called when the socket
 *   drained, with getWriteOffset() counting the body bytes taken. Unlike uWS, a chunk is always
 *   taken whole (node buffers what the kernel did not take), so after a false the retry of
 *   the rest that websocksy makes from onWritable is empty.
 * - onData gets each body chunk as an ArrayBuffer of its own (uWS's are only valid during the
 *   call; these may be kept, which nothing relies on), the last with isLast.
 * - bytes handed to write/end/tryEnd are copied: uWS copies what it cannot send at once, and
 *   websocksy may reuse its buffers after the call.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { addressBuffer, bufferOf, EMPTY, exactArrayBuffer, textOf, type Bytes } from './text.js';

/** The raw connection of a request that asked for an upgrade, as node's 'upgrade' event gives it. */
export interface UpgradeSource {
  readonly socket: Socket;
  readonly head: Buffer;
}

/** What res.upgrade() hands the connection to: the WebSocket route (ws-route.ts), passed to handlers as the uWS context. */
export interface UpgradeTarget {
  accept(message: IncomingMessage, source: UpgradeSource, userData: object, protocol: string, remote: ArrayBuffer): void;
}

export class ResponseError extends Error {
  override readonly name = 'ResponseError';
}

function copied(value: Bytes): Buffer {
  return typeof value === 'string' ? Buffer.from(value, 'utf8') : Buffer.from(bufferOf(value));
}

export class JsHttpResponse {
  /** The handler set onAborted (uWS insists on one when a handler returns without answering). */
  hasAbortHandler = false;
  /** end()/tryEnd() finished the body, or the socket was upgraded. */
  done = false;
  private aborted = false;
  private status = '200 OK';
  private readonly headers: Array<readonly [string, string]> = [];
  private headSent = false;
  private offset = 0;
  private abortHandler: (() => void) | null = null;
  private writableHandler: ((offset: number) => boolean) | null = null;
  private dataHandler: ((chunk: ArrayBuffer, isLast: boolean) => void) | null = null;
  private readonly remote: ArrayBuffer;
  private readonly proxied: ArrayBuffer;

  constructor(
    private readonly res: ServerResponse,
    private readonly message: IncomingMessage,
    private readonly upgradeSource: UpgradeSource | null,
    proxiedAddress: string,
  ) {
    this.remote = addressBuffer(message.socket.remoteAddress);
    this.proxied = addressBuffer(proxiedAddress);
    res.on('close', () => {
      if (!this.done) this.abort();
    });
    res.on('drain', () => {
      if (this.done || this.aborted || this.writableHandler === null) return;
      this.writableHandler(this.offset);
    });
  }

  private abort(): void {
    if (this.aborted) return;
    this.aborted = true;
    this.abortHandler?.();
  }

  private live(): ServerResponse {
    if (this.aborted) throw new ResponseError('Invalid access of discarded uWS.HttpResponse (aborted)');
    return this.res;
  }

  private writable(): ServerResponse {
    const res = this.live();
    if (this.done) throw new ResponseError('Invalid access of discarded uWS.HttpResponse (ended)');
    return res;
  }

  writeStatus(status: Bytes): this {
    this.writable();
    this.status = textOf(status);
    return this;
  }

  writeHeader(key: Bytes, value: Bytes): this {
    this.writable();
    this.headers.push([textOf(key), textOf(value)]);
    return this;
  }

  private hasHeader(lowerCaseName: string): boolean {
    return this.headers.some(([name]) => name.toLowerCase() === lowerCaseName);
  }

  /** Puts the status and headers into node's response, once. */
  private flushHead(res: ServerResponse, closeConnection: boolean): void {
    if (this.headSent) return;
    this.headSent = true;
    const space = this.status.indexOf(' ');
    res.statusCode = Number.parseInt(space === -1 ? this.status : this.status.slice(0, space), 10);
    if (space !== -1) res.statusMessage = this.status.slice(space + 1);
    for (const [name, value] of this.headers) res.appendHeader(name, value);
    if (closeConnection || this.upgradeSource !== null) res.setHeader('Connection', 'close');
  }

  write(chunk: Bytes): boolean {
    const res = this.writable();
    this.flushHead(res, false);
    const bytes = copied(chunk);
    this.offset += bytes.length;
    return res.write(bytes);
  }

  end(body?: Bytes, closeConnection = false): this {
    const res = this.writable();
    // Once the head went out with keep-alive, only closing after the body says it.
    if (closeConnection && this.headSent) res.once('finish', () => this.message.socket.end());
    this.flushHead(res, closeConnection);
    this.done = true;
    if (body === undefined) res.end();
    else {
      const bytes = copied(body);
      this.offset += bytes.length;
      res.end(bytes);
    }
    return this;
  }

  endWithoutBody(reportedContentLength?: number, closeConnection = false): this {
    const res = this.writable();
    if (reportedContentLength !== undefined && !this.hasHeader('content-length')) this.headers.push(['Content-Length', String(reportedContentLength)]);
    this.flushHead(res, closeConnection);
    this.done = true;
    res.end();
    return this;
  }

  tryEnd(fullBodyOrChunk: Bytes, totalSize: number): [boolean, boolean] {
    const res = this.writable();
    if (!this.headSent && !this.hasHeader('content-length')) this.headers.push(['Content-Length', String(totalSize)]);
    this.flushHead(res, false);
    const bytes = copied(fullBodyOrChunk);
    const remaining = totalSize - this.offset;
    if (bytes.length >= remaining) {
      this.offset = totalSize;
      this.done = true;
      res.end(bytes.subarray(0, remaining));
      return [true, true];
    }
    this.offset += bytes.length;
    return [bytes.length === 0 || res.write(bytes), false];
  }

  getWriteOffset(): number {
    this.live();
    return this.offset;
  }

  onWritable(handler: (offset: number) => boolean): this {
    this.live();
    this.writableHandler = handler;
    return this;
  }

  onAborted(handler: () => void): this {
    this.live();
    this.hasAbortHandler = true;
    this.abortHandler = handler;
    return this;
  }

  onData(handler: (chunk: ArrayBuffer, isLast: boolean) => void): this {
    this.live();
    const first = this.dataHandler === null;
    this.dataHandler = handler;
    if (!first) return this;
    const declared = this.message.headers['content-length'];
    const expected = declared === undefined ? null : Number(declared);
    let received = 0;
    let lastSent = false;
    this.message.on('data', (chunk: Buffer) => {
      if (this.aborted || lastSent) return;
      received += chunk.length;
      lastSent = expected !== null && received >= expected;
      this.dataHandler?.(exactArrayBuffer(chunk), lastSent);
    });
    this.message.on('end', () => {
      if (this.aborted || lastSent) return;
      lastSent = true;
      this.dataHandler?.(EMPTY, true);
    });
    return this;
  }

  pause(): void {
    this.live();
    this.message.pause();
  }

  resume(): void {
    this.live();
    this.message.resume();
  }

  /** Cuts the connection at once; the abort handler runs before this returns, as in uWS. */
  close(): this {
    this.live();
    (this.upgradeSource?.socket ?? this.message.socket).destroy();
    this.abort();
    return this;
  }

  /** Corks the connection itself: an upgrade inside cb() detaches it from the response. */
  cork(cb: () => void): this {
    const socket = this.message.socket;
    socket.cork();
    try {
      cb();
    } finally {
      socket.uncork();
    }
    return this;
  }

  getRemoteAddressAsText(): ArrayBuffer {
    return this.remote;
  }

  getProxiedRemoteAddressAsText(): ArrayBuffer {
    return this.proxied;
  }

  /** Hands the connection to the WebSocket route `context`, which answers 101 and calls open before this returns. */
  upgrade(userData: object, _key: Bytes, protocol: Bytes, _extensions: Bytes, context: UpgradeTarget): void {
    this.live();
    const source = this.upgradeSource;
    if (source === null) throw new ResponseError('cannot upgrade a request that came without Upgrade and Connection: upgrade headers');
    if (this.done) throw new ResponseError('Invalid access of discarded uWS.HttpResponse (ended)');
    if (!source.socket.writable || !source.socket.readable) {
      // The client left and node has not said so yet: as in uWS, an aborted response.
      source.socket.destroy();
      this.abort();
      throw new ResponseError('Invalid access of discarded uWS.HttpResponse (aborted)');
    }
    this.done = true;
    this.res.detachSocket(source.socket);
    context.accept(this.message, source, userData, textOf(protocol), this.remote);
  }
}
