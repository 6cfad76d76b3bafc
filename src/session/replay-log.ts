/*
 * The records a session sent its client and the client has not acknowledged, in order, with
 * the data offset each one ends at. A resume replays from the client's count; an ACK drops what
 * it covers. Kept in an array with a moving head (no shift() per record).
 */
import { recycleRecord } from './records.js';

/** What one kept record costs beyond its bytes (the Buffer object, the array slots), for the bound. */
const RECORD_OVERHEAD = 96;

export class ReplayLog {
  private records: Buffer[] = [];
  /** ends[i]: data bytes sent up to and including records[i]. */
  private ends: number[] = [];
  private head = 0;
  private sentBytes = 0;
  private ackedBytes = 0;
  private keptBytes = 0;

  /** Data bytes sent, acknowledged or not. */
  get sent(): number {
    return this.sentBytes;
  }

  get acked(): number {
    return this.ackedBytes;
  }

  /** Data bytes sent and not acknowledged. */
  get unacked(): number {
    return this.sentBytes - this.ackedBytes;
  }

  /**
   * Memory the kept records take, counting a per-record overhead: what the session-buffer
   * bound counts, so that a peer talking in small messages is held to it as well.
   */
  get kept(): number {
    return this.keptBytes;
  }

  get size(): number {
    return this.records.length - this.head;
  }

  /** Adds a data record whose body is `dataLength` bytes. */
  push(record: Buffer, dataLength: number): void {
    this.sentBytes += dataLength;
    this.keptBytes += record.length + RECORD_OVERHEAD;
    this.records.push(record);
    this.ends.push(this.sentBytes);
  }

  /** True when `count` is a count the client could have received: between the last ACK and what was sent. */
  canAck(count: number): boolean {
    return Number.isSafeInteger(count) && count >= this.ackedBytes && count <= this.sentBytes;
  }

  /** Forgets the records `count` covers; call canAck first. */
  ack(count: number): void {
    this.ackedBytes = count;
    while (this.head < this.records.length && (this.ends[this.head] as number) <= count) {
      const record = this.records[this.head] as Buffer;
      this.keptBytes -= record.length + RECORD_OVERHEAD;
      recycleRecord(record);
      this.head++;
    }
    if (this.head === this.records.length) {
      this.records = [];
      this.ends = [];
      this.head = 0;
    } else if (this.head >= 1024 && this.head * 2 >= this.records.length) {
      this.records = this.records.slice(this.head);
      this.ends = this.ends.slice(this.head);
      this.head = 0;
    }
  }

  /** The records after data offset `count`, oldest first; `count` must have passed canAck. */
  *after(count: number): Generator<Buffer> {
    for (let i = this.indexAfter(count); i < this.records.length; i++) yield this.records[i] as Buffer;
  }

  /**
   * The position of the first record that ends after `count` (data records carry at least one
   * byte, so that is the one that starts at `count`); `end` when there is none. Binary search:
   * a resume that replays in steps looks its place up once per step.
   */
  indexAfter(count: number): number {
    let low = this.head;
    let high = this.records.length;
    while (low < high) {
      const middle = (low + high) >>> 1;
      if ((this.ends[middle] as number) > count) high = middle;
      else low = middle + 1;
    }
    return low;
  }

  /** One past the last position. */
  get end(): number {
    return this.records.length;
  }

  recordAt(index: number): Buffer {
    return this.records[index] as Buffer;
  }

  /** The data offset at the end of the record at `index`. */
  endAt(index: number): number {
    return this.ends[index] as number;
  }

  /** Records after `count` whose bodies add up to at most `budget` bytes (at least one), for an HTTP answer. */
  takeAfter(count: number, budget: number): Buffer[] {
    const taken: Buffer[] = [];
    let size = 0;
    for (const record of this.after(count)) {
      if (taken.length > 0 && size + record.length > budget) break;
      taken.push(record);
      size += record.length;
    }
    return taken;
  }
}
