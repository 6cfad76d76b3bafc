/*
 * One WebSocket client of a route module (RouteSocket), from its 101 on. Sends follow the one
 * send policy (core/send-policy.ts): send() returns false once more than HIGH_WATER bytes wait
 * for the client, and the module's drain handler runs when half of them have gone. uWS 20.30
 * cannot pause a client, and a module may send on regardless: a client whose queue passes
 * HIGH_WATER plus the route's largest message is closed with 1013 and a log line, so memory
 * stays bounded and uWS never has to drop a message.
 *
 * What the module sends from inside its message handler goes out on the next loop turn, and a
 * close() made there after it: uWS cuts a TLS WebSocket written to while a large read of it is
 * still being taken apart (docs/engine.md, "Writing inside a TLS read"), which an echo under a
 * fast upload is. The sends are copied, since the module may reuse its buffer.
 */
import type { WebSocket } from 'uWebSockets.js';
import { WsCloseCode } from '../core/api.js';
import type { RunningCounts } from '../core/bridge-observer.js';
import type { SocketData, SocketLimits } from '../core/endpoint.js';
import type { RouteRequestHead, RouteSocket } from '../core/route-api.js';
import { aboveHighWater, drainedBelowLowWater, maxBackpressureFor, notReading, overflowed, SendOverflowError, sendMessage, type CloseDecision } from '../core/send-policy.js';
import { runGuarded, type Guarded } from '../lib/guard.js';
import { log, type LogFields } from '../lib/log.js';
import { sendableCloseCode } from '../lib/close-code.js';
import { closeReason } from '../lib/text.js';

const HIGH_WATER = 1024 * 1024;


/**
 * The uWS limits of a route's sockets: messages up to `maxMessage`, and a maxBackpressure above
 * every queue a socket keeps before it is closed for not reading, so uWS never drops a message.
 */
export function socketLimits(maxMessage: number): SocketLimits {
  return { maxPayloadLength: maxMessage, maxBackpressure: maxBackpressureFor(HIGH_WATER, maxMessage) };
}

export interface ModuleSocketData extends SocketData {
  readonly socket: ModuleSocket;
  /** The socket's counts for the metrics, where "peer" is the module. */
  readonly counts: RunningCounts;
  /** Who the metrics count it for (identityLabel). */
  readonly identity: string;
}

export class ModuleSocket implements RouteSocket, Guarded {
  private ws: WebSocket<ModuleSocketData> | null = null;
  /** close() or terminate() was called, or the connection ended. */
  private closing = false;
  /** A send() returned false: the module waits for its drain handler. */
  private behind = false;
  /** Bytes queued toward the client beyond which it counts as not reading: what a module that waits for drain can reach. */
  private readonly queueLimit: number;
  /** The module's message handler is running (its synchronous part). */
  private reading = false;
  /** Sends waiting for the next turn, and a close behind them; null when none wait. */
  private held: { readonly sends: Array<{ readonly message: Buffer; readonly isBinary: boolean }>; bytes: number; close: { readonly code: number; readonly reason: string } | null } | null = null;

  constructor(
    readonly request: RouteRequestHead,
    readonly protocol: string,
    maxMessage: number,
    readonly logFields: LogFields,
    /** What send() counts toward the client (ModuleSocketData.counts). */
    private readonly counts: RunningCounts,
    /** Held sends went out: uWS may never say drain for them (the kernel took them whole). */
    private readonly flushed: (socket: ModuleSocket) => void,
  ) {
    this.queueLimit = HIGH_WATER + maxMessage;
  }

  get id(): number {
    return this.request.id;
  }

  get closed(): boolean {
    return this.closing;
  }

  attach(ws: WebSocket<ModuleSocketData>): void {
    this.ws = ws;
  }

  /** uWS's close handler ran: the socket may not be touched again (what it held goes with it). */
  detach(): void {
    this.ws = null;
    this.closing = true;
    this.held = null;
  }

  /** Runs the module's message handler: what it sends meanwhile waits for the next turn. */
  whileReading(handler: () => void): void {
    this.reading = true;
    try {
      handler();
    } finally {
      this.reading = false;
    }
  }

  send(data: string | Uint8Array, isBinary: boolean = typeof data !== 'string'): boolean {
    const ws = this.ws;
    if (ws === null || this.closing) return false;
    if (typeof data !== 'string' && !(data instanceof Uint8Array)) throw new TypeError('a message is a string or a Uint8Array (a Buffer)');
    const queued = this.getBufferedAmount();
    if (queued > this.queueLimit) {
      this.closeWith(notReading('client', queued, this.queueLimit));
      return false;
    }
    // Held, a copy: the module may reuse its buffer (a string's bytes are a new buffer already).
    if (this.reading || this.held !== null) this.hold(typeof data === 'string' ? Buffer.from(data, 'utf8') : Buffer.from(data), isBinary);
    else if (!this.sendNow(ws, typeof data === 'string' ? Buffer.from(data, 'utf8') : data, isBinary)) return false;
    if (aboveHighWater(this.getBufferedAmount(), HIGH_WATER)) this.behind = true;
    return !this.behind;
  }

  /** False when uWS dropped it (the socket is closed for it). */
  private sendNow(ws: WebSocket<ModuleSocketData>, message: Uint8Array, isBinary: boolean): boolean {
    try {
      sendMessage(ws, message, isBinary);
    } catch (error) {
      if (!(error instanceof SendOverflowError)) throw error;
      this.closeWith(overflowed(error));
      return false;
    }
    this.counts.bytesToClient += message.length;
    this.counts.messagesToClient++;
    return true;
  }

  private hold(message: Buffer, isBinary: boolean): void {
    if (this.held === null) {
      this.held = { sends: [], bytes: 0, close: null };
      setImmediate(() => runGuarded(this, 'route module sends', () => this.flush()));
    }
    this.held.sends.push({ message, isBinary });
    this.held.bytes += message.length;
  }

  private flush(): void {
    const { held } = this;
    this.held = null;
    if (held === null) return;
    for (const { message, isBinary } of held.sends) {
      // A failed send closes the socket, and uWS's close handler detaches it.
      const ws = this.ws;
      if (ws === null || !this.sendNow(ws, message, isBinary)) return;
    }
    if (held.close !== null) this.ws?.end(held.close.code, closeReason(held.close.reason));
    else if (this.behind) this.flushed(this);
  }

  /** What waits for the client: uWS's queue and the sends held for the next turn. */
  getBufferedAmount(): number {
    return (this.ws?.getBufferedAmount() ?? 0) + (this.held?.bytes ?? 0);
  }

  close(code: number = WsCloseCode.normal, reason = ''): void {
    if (!Number.isInteger(code) || !sendableCloseCode(code)) throw new RangeError(`${String(code)} is not a close code a close frame may carry`);
    if (typeof reason !== 'string') throw new TypeError('a close reason is a string');
    if (this.ws === null || this.closing) return;
    this.closing = true;
    if (this.held !== null) this.held.close = { code, reason };
    else this.ws.end(code, closeReason(reason));
  }

  terminate(): void {
    if (this.ws === null || this.closing) return;
    this.closing = true;
    this.ws.close();
  }

  /** uWS's drain: true when the module, told to wait, may send again. */
  caughtUp(): boolean {
    const ws = this.ws;
    if (!this.behind || ws === null || !drainedBelowLowWater(ws.getBufferedAmount(), HIGH_WATER)) return false;
    this.behind = false;
    return true;
  }

  abortAfterFault(): void {
    this.closeWith({ code: WsCloseCode.unexpected, reason: 'Internal error' });
  }

  private closeWith(decision: CloseDecision): void {
    if (this.ws === null || this.closing) return;
    log.info('route module socket closed', { ...this.logFields, code: decision.code, why: decision.reason });
    this.closing = true;
    this.ws.end(decision.code, closeReason(decision.reason));
  }
}
