/*
 * The record codec of resumable sessions (docs/sessions.md, "Records"): over WebSocket one
 * message is one record (a type byte, then the body); over HTTP a body is a run of records, each
 * a type byte, a 4-byte big-endian body length and the body. Pure functions on bytes, so that
 * they can be tested against hand-made byte sequences.
 */

export const RecordType = {
  HELLO: 0x01,
  WELCOME: 0x02,
  BINARY: 0x03,
  TEXT: 0x04,
  ACK: 0x05,
  END: 0x06,
  ERROR: 0x07,
} as const;
export type RecordType = (typeof RecordType)[keyof typeof RecordType];

/** The two record types whose bodies count as data (offsets and ACKs count only these). */
export type DataType = typeof RecordType.BINARY | typeof RecordType.TEXT;

export interface SessionRecord {
  readonly type: RecordType;
  readonly body: Uint8Array;
}

/** A record that breaks the codec: the session cannot go on with a peer that sends it. */
export class RecordError extends Error {
  override readonly name = 'RecordError';
}

const HEADER_BYTES = 5;
const TWO_TO_THE_32 = 0x1_0000_0000;

function recordType(byte: number): RecordType {
  if (byte < RecordType.HELLO || byte > RecordType.ERROR) throw new RecordError(`unknown record type 0x${byte.toString(16).padStart(2, '0')}`);
  return byte as RecordType;
}

export function isData(type: RecordType): type is DataType {
  return type === RecordType.BINARY || type === RecordType.TEXT;
}

/** One WebSocket message's bytes for a record. */
export function encodeMessageRecord(type: RecordType, body: Uint8Array): Uint8Array<ArrayBuffer> {
  const bytes = new Uint8Array(1 + body.length);
  bytes[0] = type;
  bytes.set(body, 1);
  return bytes;
}

/** The record one WebSocket message holds; the body is a view into `bytes`. */
export function decodeMessageRecord(bytes: Uint8Array): SessionRecord {
  if (bytes.length === 0) throw new RecordError('empty record');
  return { type: recordType(bytes[0] as number), body: bytes.subarray(1) };
}

/** An HTTP body holding `records` in order. */
export function encodeStreamRecords(records: readonly SessionRecord[]): Uint8Array<ArrayBuffer> {
  const bytes = new Uint8Array(records.reduce((sum, record) => sum + HEADER_BYTES + record.body.length, 0));
  const view = new DataView(bytes.buffer);
  let at = 0;
  for (const record of records) {
    bytes[at] = record.type;
    view.setUint32(at + 1, record.body.length);
    bytes.set(record.body, at + HEADER_BYTES);
    at += HEADER_BYTES + record.body.length;
  }
  return bytes;
}

/** The records of an HTTP body; a body cut inside a record is an error, not a partial answer. */
export function decodeStreamRecords(bytes: Uint8Array): SessionRecord[] {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const records: SessionRecord[] = [];
  let at = 0;
  while (at < bytes.length) {
    if (bytes.length - at < HEADER_BYTES) throw new RecordError(`record header cut at byte ${at}`);
    const type = recordType(bytes[at] as number);
    const length = view.getUint32(at + 1);
    const start = at + HEADER_BYTES;
    if (bytes.length - start < length) throw new RecordError(`record body cut at byte ${at}: ${length} bytes announced, ${bytes.length - start} present`);
    records.push({ type, body: bytes.subarray(start, start + length) });
    at = start + length;
  }
  return records;
}

/** An ACK body: a count as two big-endian uint32 (high, low). */
export function encodeAck(count: number): Uint8Array<ArrayBuffer> {
  if (!Number.isSafeInteger(count) || count < 0) throw new RangeError(`not a byte count: ${count}`);
  const body = new Uint8Array(8);
  const view = new DataView(body.buffer);
  view.setUint32(0, Math.floor(count / TWO_TO_THE_32));
  view.setUint32(4, count % TWO_TO_THE_32);
  return body;
}

export function decodeAck(body: Uint8Array): number {
  if (body.length !== 8) throw new RecordError(`ACK body of ${body.length} bytes, not 8`);
  const view = new DataView(body.buffer, body.byteOffset, 8);
  const count = view.getUint32(0) * TWO_TO_THE_32 + view.getUint32(4);
  if (!Number.isSafeInteger(count)) throw new RecordError('ACK count past 2^53');
  return count;
}
