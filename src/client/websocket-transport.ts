/*
 * A session's WebSocket once its WELCOME has come: one record per binary message each way.
 * Records that arrive before the session attaches wait in a backlog (see transport.ts).
 */
import { encodeEnd, type EndBody } from './control.js';
import type { OutMessage } from './outbox.js';
import { decodeMessageRecord, encodeAck, encodeMessageRecord, RecordError, RecordType, type SessionRecord } from './records.js';
import { PROTOCOL_ERROR, type Transport, type TransportCallbacks } from './transport.js';
import { messageBytes, type WebSocketCloseLike, type WebSocketLike, type WebSocketMessageLike } from './websocket-like.js';

type Pending = { readonly record: SessionRecord } | { readonly code: number; readonly reason: string };

export class WebSocketTransport implements Transport {
  readonly kind = 'websocket';
  private callbacks: TransportCallbacks | null = null;
  private backlog: Pending[] | null = [];
  private closed = false;

  /** Takes over `socket`'s messages from now on (its handshake listeners must stop). */
  constructor(private readonly socket: WebSocketLike) {
    socket.addEventListener('message', (event: WebSocketMessageLike) => this.onMessage(event));
    socket.addEventListener('close', (event: WebSocketCloseLike) => this.onLost(event.code, event.reason));
  }

  attach(callbacks: TransportCallbacks): void {
    this.callbacks = callbacks;
    const backlog = this.backlog ?? [];
    this.backlog = null;
    for (const pending of backlog) {
      if (this.closed) return;
      if ('record' in pending) callbacks.record(pending.record);
      else this.onLost(pending.code, pending.reason);
    }
  }

  sendData(message: OutMessage): void {
    this.sendRecord(message.type, message.body);
  }

  sendEnd(end: EndBody): void {
    this.sendRecord(RecordType.END, encodeEnd(end));
  }

  acknowledge(received: number): void {
    this.sendRecord(RecordType.ACK, encodeAck(received));
  }

  finish(received: number): void {
    this.acknowledge(received);
    this.close();
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.socket.close(1000);
  }

  private sendRecord(type: RecordType, body: Uint8Array): void {
    if (!this.closed) this.socket.send(encodeMessageRecord(type, body));
  }

  private onMessage(event: WebSocketMessageLike): void {
    if (this.closed) return;
    const bytes = messageBytes(event.data);
    let record: SessionRecord;
    try {
      if (bytes === undefined) throw new RecordError('a text message where records are binary');
      record = decodeMessageRecord(bytes);
    } catch (error) {
      this.fail(PROTOCOL_ERROR, (error as Error).message);
      return;
    }
    if (this.backlog !== null) this.backlog.push({ record });
    else this.callbacks?.record(record);
  }

  private onLost(code: number, reason: string): void {
    if (this.closed) return;
    if (this.backlog !== null) {
      this.backlog.push({ code, reason });
      return;
    }
    this.closed = true;
    this.callbacks?.lost(code, reason);
  }

  /**
   * Hangs up on a broken protocol and reports it as the loss of the transport, with the code
   * that tells the session not to come back. (Browsers let a client close only with 1000 or
   * 3000–4999, so the code goes to the session, not on the wire.)
   */
  private fail(code: number, reason: string): void {
    this.socket.close(1000);
    this.onLost(code, reason);
  }
}
