/*
 * uWS's WebSocket over a `ws` socket, with the uWS semantics websocksy's send policy
 * (core/send-policy.ts) and close handling are built on:
 * - send() returns 1 when the kernel took the frame, 0 when some of it waits in the buffer
 *   (drain follows), 2 when it was dropped because more than maxBackpressure already waited;
 * - drain is called as the buffer falls, after any send returned 0, until it is empty: once
 *   per batch of completed writes, not once per frame;
 * - end(code, reason) queues the close frame behind what is queued and calls the close handler
 *   before it returns; close() cuts the connection (1006) the same way. After the close
 *   handler returned, every call but getUserData throws, as uWS's do; messages the client sent after that are not read.
 * - bytes handed to send() are copied: `ws` would keep a reference to a frame the kernel did
 *   not take at once, and websocksy reuses its read buffers after send() returns.
 * - message gets an ArrayBuffer of its own (uWS's is valid only during the call).
 * Differences, where `ws` does better than imitating uWS 20.30 would: a text message that is
 * not UTF-8 closes with 1007, and an unmasked client frame closes with 1002 (uWS hangs or drops).
 */
import type { Socket } from 'node:net';
import type { WebSocket as WsSocket } from 'ws';
import { errorMessage } from '../../lib/errors.js';
import { log } from '../../lib/log.js';
import { PEER_CLOSE } from './peer-close.js';
import { bufferOf, EMPTY, exactArrayBuffer, type Bytes } from './text.js';

/** The handlers and limits of the WebSocket route a socket belongs to (uWS's WebSocketBehavior, as used here). */
export interface SocketHandlers<D> {
  readonly maxBackpressure: number;
  open?: (ws: JsWebSocket<D>) => void;
  message?: (ws: JsWebSocket<D>, message: ArrayBuffer, isBinary: boolean) => void;
  drain?: (ws: JsWebSocket<D>) => void;
  close?: (ws: JsWebSocket<D>, code: number, message: ArrayBuffer) => void;
  ping?: (ws: JsWebSocket<D>, message: ArrayBuffer) => void;
  pong?: (ws: JsWebSocket<D>, message: ArrayBuffer) => void;
}

const SENT = 1;
const BACKPRESSURE = 0;
const DROPPED = 2;
/** Close codes `ws` accepts to send (RFC 6455 §7.4.1; 1004-1006 and 1015 are never sent). */
function sendableCode(code: number): boolean {
  return (code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1014) || (code >= 3000 && code <= 4999);
}

export class SocketClosedError extends Error {
  override readonly name = 'SocketClosedError';
  constructor() {
    super('Invalid access of closed uWS.WebSocket/SSLWebSocket.');
  }
}

export class JsWebSocket<D> {
  /** The close handler was called (or is running): nothing more is delivered. */
  private closed = false;
  /** The close handler returned: every call throws. */
  private invalid = false;
  /** A send returned 0: drain is owed as the buffer falls. */
  private drainOwed = false;
  private drainQueued = false;
  private readonly afterWrite = (): void => this.queueDrain();

  constructor(
    private readonly socket: WsSocket,
    /** The connection under `socket`, for cork(). */
    private readonly raw: Socket,
    private readonly userData: D,
    private readonly handlers: SocketHandlers<D>,
    private readonly remote: ArrayBuffer,
  ) {
    socket.on('message', (data: Buffer, isBinary: boolean) => {
      if (!this.closed) handlers.message?.(this, exactArrayBuffer(data), isBinary);
    });
    socket.on('ping', (data: Buffer) => {
      if (!this.closed) handlers.ping?.(this, exactArrayBuffer(data));
    });
    socket.on('pong', (data: Buffer) => {
      if (!this.closed) handlers.pong?.(this, exactArrayBuffer(data));
    });
    // The client's close frame (peer-close.ts), or the connection's end without one (1006).
    socket.on(PEER_CLOSE, (code: number, reason: Buffer) => this.closedBy(code, exactArrayBuffer(reason)));
    socket.on('close', (code: number, reason: Buffer) => this.closedBy(code, exactArrayBuffer(reason)));
    // `ws` emits 'error' for a protocol violation (a frame too big, bad UTF-8, an unmasked
    // frame) and then closes with the code it sent; that close is what the handler is told, and
    // websocksy's close line reports; the error's own words go to the debug log.
    socket.on('error', (error) => log.debug('engine WebSocket error', { error: errorMessage(error) }));
  }

  private live(): WsSocket {
    if (this.invalid) throw new SocketClosedError();
    return this.socket;
  }

  private closedBy(code: number, reason: ArrayBuffer): void {
    if (this.closed) return;
    this.closed = true;
    try {
      this.handlers.close?.(this, code, reason);
    } finally {
      this.invalid = true;
    }
  }

  private queueDrain(): void {
    if (!this.drainOwed || this.drainQueued) return;
    this.drainQueued = true;
    queueMicrotask(() => {
      this.drainQueued = false;
      if (this.closed || !this.drainOwed) return;
      if (this.socket.bufferedAmount === 0) this.drainOwed = false;
      this.handlers.drain?.(this);
    });
  }

  private status(): number {
    if (this.socket.bufferedAmount === 0) return SENT;
    this.drainOwed = true;
    return BACKPRESSURE;
  }

  send(message: Bytes, isBinary = false): number {
    const socket = this.live();
    if (socket.bufferedAmount > this.handlers.maxBackpressure && this.handlers.maxBackpressure > 0) return DROPPED;
    const data = typeof message === 'string' ? message : Buffer.from(bufferOf(message));
    socket.send(data, { binary: isBinary, fin: true }, this.afterWrite);
    return this.status();
  }

  ping(message: Bytes = EMPTY): number {
    const socket = this.live();
    socket.ping(Buffer.from(bufferOf(message)), undefined, this.afterWrite);
    return this.status();
  }

  getBufferedAmount(): number {
    return this.live().bufferedAmount;
  }

  /** Sends a close frame behind what is queued; the close handler runs before this returns. */
  end(code = 0, shortMessage: Bytes = EMPTY): void {
    const socket = this.live();
    if (this.closed) return;
    const reason = bufferOf(shortMessage);
    if (sendableCode(code)) socket.close(code, reason);
    else socket.close();
    this.closedBy(sendableCode(code) ? code : 1005, exactArrayBuffer(reason));
  }

  /** Cuts the connection without a close frame; the close handler gets 1006. */
  close(): void {
    const socket = this.live();
    if (this.closed) return;
    socket.terminate();
    this.closedBy(1006, EMPTY);
  }

  cork(cb: () => void): this {
    this.live();
    const { raw } = this;
    raw.cork();
    try {
      cb();
    } finally {
      raw.uncork();
    }
    return this;
  }

  getUserData(): D {
    return this.userData;
  }

  getRemoteAddressAsText(): ArrayBuffer {
    return this.remote;
  }
}
