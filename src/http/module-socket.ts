/*
 * One WebSocket client of a route module (RouteSocket), from its 101 on. Sends follow the one
 * send policy (core/send-policy.ts): send() returns false once more than HIGH_WATER bytes wait
 * for the client, and the module's drain handler runs when half of them have gone. uWS 20.30
 * cannot pause a client, and a module may send on regardless: a client whose queue passes
 * HIGH_WATER plus the route's largest message is closed with 1013 and a log line, so memory
 * stays bounded and uWS never has to drop a message.
 */
import type { WebSocket } from 'uWebSockets.js';
import { WsCloseCode } from '../core/api.js';
import type { RunningCounts } from '../core/bridge-observer.js';
import type { SocketData, SocketLimits } from '../core/endpoint.js';
import type { RouteRequestHead, RouteSocket } from '../core/route-api.js';
import { aboveHighWater, drainedBelowLowWater, maxBackpressureFor, notReading, overflowed, sendableCloseCode, SendOverflowError, sendMessage, type CloseDecision } from '../core/send-policy.js';
import type { Guarded } from '../lib/guard.js';
import { log, type LogFields } from '../lib/log.js';
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

  constructor(
    readonly request: RouteRequestHead,
    readonly protocol: string,
    maxMessage: number,
    readonly logFields: LogFields,
    /** What send() counts toward the client (ModuleSocketData.counts). */
    private readonly counts: RunningCounts,
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

  /** uWS's close handler ran: the socket may not be touched again. */
  detach(): void {
    this.ws = null;
    this.closing = true;
  }

  send(data: string | Uint8Array, isBinary: boolean = typeof data !== 'string'): boolean {
    const ws = this.ws;
    if (ws === null || this.closing) return false;
    if (typeof data !== 'string' && !(data instanceof Uint8Array)) throw new TypeError('a message is a string or a Uint8Array (a Buffer)');
    const queued = ws.getBufferedAmount();
    if (queued > this.queueLimit) {
      this.closeWith(notReading('client', queued, this.queueLimit));
      return false;
    }
    try {
      const message = typeof data === 'string' ? Buffer.from(data, 'utf8') : data;
      sendMessage(ws, message, isBinary);
      this.counts.bytesToClient += message.length;
      this.counts.messagesToClient++;
    } catch (error) {
      if (!(error instanceof SendOverflowError)) throw error;
      this.closeWith(overflowed(error));
      return false;
    }
    if (aboveHighWater(ws.getBufferedAmount(), HIGH_WATER)) this.behind = true;
    return !this.behind;
  }

  getBufferedAmount(): number {
    return this.ws?.getBufferedAmount() ?? 0;
  }

  close(code: number = WsCloseCode.normal, reason = ''): void {
    if (!Number.isInteger(code) || !sendableCloseCode(code)) throw new RangeError(`${String(code)} is not a close code a close frame may carry`);
    if (typeof reason !== 'string') throw new TypeError('a close reason is a string');
    if (this.ws === null || this.closing) return;
    this.closing = true;
    this.ws.end(code, closeReason(reason));
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
