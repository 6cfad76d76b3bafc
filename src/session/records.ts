/*
 * The records of a resumable session (docs/sessions.md "Records"): a type byte, then the body.
 * Over WebSocket each message is one record; over HTTP a body is a run of records, each with a
 * 4-byte big-endian length after its type byte. Data offsets count only data record bodies.
 */
export const SESSION_SUBPROTOCOL = 'websocksy.session.v1';

export const RecordType = {
  hello: 0x01,
  welcome: 0x02,
  binary: 0x03,
  text: 0x04,
  ack: 0x05,
  end: 0x06,
  error: 0x07,
} as const;
export type RecordType = (typeof RecordType)[keyof typeof RecordType];

/** Length of the header that precedes each record body over HTTP. */
export const HTTP_RECORD_HEADER = 5;

/**
 * The record of a whole peer read (64 KiB, peer-stream.ts): in bulk transfer nearly every
 * record is one. Each is kept until the client acknowledges it, long enough to outlive young
 * GCs, so fresh ones would be promoted and their memory freed only by full GCs (a session
 * carrying 300 MB/s ran a dozen a second, against one in three seconds for the plain bridge).
 * Once acknowledged nothing holds them (ws.send and the HTTP answer copy what they send), so
 * their memory carries the next ones instead.
 */
const RECYCLED_LENGTH = 64 * 1024 + 1;
/** Spare records kept at most: 8 MiB, a few ACKs' worth of every busy session. */
const RECYCLED_MAX = 128;
const recycled: Buffer[] = [];

/** A record as it is sent over WebSocket: the type byte and a copy of `body`. */
export function makeRecord(type: RecordType, body: Uint8Array): Buffer {
  const length = body.length + 1;
  const record = length === RECYCLED_LENGTH ? (recycled.pop() ?? Buffer.allocUnsafeSlow(length)) : Buffer.allocUnsafe(length);
  record[0] = type;
  record.set(body, 1);
  return record;
}

/** A data record the client has acknowledged: the replay log no longer holds it, and nothing else does. */
export function recycleRecord(record: Buffer): void {
  if (record.length === RECYCLED_LENGTH && recycled.length < RECYCLED_MAX) recycled.push(record);
}

export function jsonRecord(type: RecordType, value: object): Buffer {
  return makeRecord(type, Buffer.from(JSON.stringify(value)));
}

/** An ACK of `count` data bytes: high and low 32 bits, big-endian (counts stay below 2^53). */
export function ackRecord(count: number): Buffer {
  const record = Buffer.allocUnsafe(9);
  record[0] = RecordType.ack;
  record.writeUInt32BE(Math.floor(count / 2 ** 32), 1);
  record.writeUInt32BE(count >>> 0, 5);
  return record;
}

/** The count an ACK body carries, or null when the body is not 8 bytes. */
export function readAck(body: Uint8Array): number | null {
  if (body.length !== 8) return null;
  const view = new DataView(body.buffer, body.byteOffset, 8);
  const high = view.getUint32(0);
  if (high >= 2 ** 21) return null;
  return high * 2 ** 32 + view.getUint32(4);
}

export function isDataRecord(type: number): boolean {
  return type === RecordType.binary || type === RecordType.text;
}

/** A malformed record or a record where none of its type may come; the session's transport closes with 4400. */
export class RecordError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'RecordError';
  }
}

/** Parses a JSON record body into an object, or throws RecordError naming `what`. */
export function readJson(body: Uint8Array, what: string): Record<string, unknown> {
  let value: unknown;
  try {
    value = JSON.parse(Buffer.from(body.buffer, body.byteOffset, body.length).toString('utf8'));
  } catch (error) {
    throw new RecordError(`${what} is not JSON: ${(error as Error).message}`);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new RecordError(`${what} is not a JSON object`);
  return value as Record<string, unknown>;
}

/**
 * Splits an HTTP body into records; a record cut off at the end is an error (a body is whole
 * or refused). `visit` sees each record's type and body (a view into `body`).
 */
export function forEachHttpRecord(body: Buffer, visit: (type: number, record: Buffer) => void): void {
  let at = 0;
  while (at < body.length) {
    if (body.length - at < HTTP_RECORD_HEADER) throw new RecordError(`a record header is cut off at byte ${at}`);
    const type = body[at] as number;
    const length = body.readUInt32BE(at + 1);
    const start = at + HTTP_RECORD_HEADER;
    if (body.length - start < length) throw new RecordError(`a record of ${length} bytes is cut off at byte ${at}`);
    visit(type, body.subarray(start, start + length));
    at = start + length;
  }
}

/** The 5-byte header of an HTTP record whose WebSocket form is `record` (type byte + body). */
export function httpRecordHeader(record: Uint8Array): Buffer {
  const header = Buffer.allocUnsafe(HTTP_RECORD_HEADER);
  header[0] = record[0] as number;
  header.writeUInt32BE(record.length - 1, 1);
  return header;
}
