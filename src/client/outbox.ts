/*
 * What the client has sent, by data offset: every message stays here until the server has
 * acknowledged it, so that a resume can send again whatever the server did not take. The
 * messages past the in-flight window wait here too; `bufferedAmount` is all of it.
 */
import { RecordError, type DataType } from './records.js';

export interface OutMessage {
  readonly type: DataType;
  readonly body: Uint8Array;
  /** Data offset of the message's first byte. */
  readonly start: number;
}

export class Outbox {
  private readonly messages: OutMessage[] = [];
  /** Index in `messages` of the first message not yet handed to the current transport. */
  private next = 0;
  /** Data bytes the server has acknowledged: every message before this offset is gone. */
  private acked = 0;
  /** Offset after the last message queued. */
  private end = 0;

  push(type: DataType, body: Uint8Array): void {
    this.messages.push({ type, body, start: this.end });
    this.end += body.length;
  }

  /** Bytes queued or in flight, not yet acknowledged. */
  get bufferedAmount(): number {
    return this.end - this.acked;
  }

  /** Offset after the last message: where an END stands. */
  get endOffset(): number {
    return this.end;
  }

  /** True when every message has been handed to the current transport. */
  get allTransmitted(): boolean {
    return this.next === this.messages.length;
  }

  /** Offset after the last message handed to the current transport. */
  private get transmitted(): number {
    const last = this.messages[this.next - 1];
    return last === undefined ? this.acked : last.start + last.body.length;
  }

  /**
   * The next message to transmit if it keeps the unacknowledged bytes within `window`, marked
   * as transmitted; undefined when none may go now.
   */
  take(window: number): OutMessage | undefined {
    const message = this.messages[this.next];
    if (message === undefined || message.start + message.body.length - this.acked > window) return undefined;
    this.next += 1;
    return message;
  }

  /** True when the next message could never go: alone it is larger than `window`. */
  stuck(window: number): boolean {
    const message = this.messages[this.next];
    return message !== undefined && message.body.length > window;
  }

  /**
   * The server has `count` data bytes: drop what it has. An old count is harmless (an ACK
   * overtaken by a later one); a count past what was transmitted, or inside a message, breaks
   * the protocol.
   */
  acknowledge(count: number): void {
    if (count <= this.acked) return;
    if (count > this.transmitted) throw new RecordError(`acknowledged ${count} bytes, only ${this.transmitted} sent`);
    let dropped = 0;
    while (dropped < this.next) {
      const message = this.messages[dropped] as OutMessage;
      const messageEnd = message.start + message.body.length;
      if (messageEnd > count) {
        if (message.start < count) throw new RecordError(`acknowledged ${count} bytes, inside the message at ${message.start}`);
        break;
      }
      dropped += 1;
    }
    this.messages.splice(0, dropped);
    this.next -= dropped;
    this.acked = count;
  }

  /**
   * A resume: the server has `count` bytes (from its WELCOME or first poll), and everything
   * after it goes again on the new transport.
   */
  rewind(count: number): void {
    if (count < this.acked) throw new RecordError(`the server has ${count} bytes, it had acknowledged ${this.acked}`);
    this.next = this.messages.length; // whatever any transport had: the check is against all sent
    this.acknowledge(count);
    this.next = 0;
  }
}
