/*
 * The client's side of resumable sessions (docs/sessions.md) as the fuzzer speaks it: records
 * in WebSocket messages over a raw connection, sent with nothing checked (any type, any body,
 * binary or text), and the server's records read back and counted; and HTTP bodies of records,
 * read with every length checked (a malformed answer is reported, never thrown).
 */
import type { Random } from '../test/helpers/random.js';
import type { RawConnection } from './raw-connection.js';
import { PREFIX } from './target-paths.js';
import { encodeFrame, Opcode, type ServerFrame } from './ws-frame.js';

export const SESSION_PROTOCOL = 'websocksy.session.v1';
/** Where sessions are resumed and driven over HTTP. */
export const SESSION_PATH = PREFIX.session;
export const R = { hello: 1, welcome: 2, binary: 3, text: 4, ack: 5, end: 6, error: 7 } as const;
const NAMES: Readonly<Record<number, string>> = { 1: 'hello', 2: 'welcome', 3: 'binary', 4: 'text', 5: 'ack', 6: 'end', 7: 'error' };

export interface SessionRecord {
  readonly type: number;
  readonly body: Buffer;
}

export function record(type: number, body: Buffer | string = Buffer.alloc(0)): Buffer {
  return Buffer.concat([Buffer.from([type & 0xff]), typeof body === 'string' ? Buffer.from(body, 'utf8') : body]);
}

/** An ACK record's 8-byte body: `count` as two big-endian uint32 (a negative count wraps, as a hostile client's would). */
export function ackBody(count: number): Buffer {
  const body = Buffer.alloc(8);
  body.writeUInt32BE(Math.floor(count / 2 ** 32) >>> 0, 0);
  body.writeUInt32BE(count >>> 0, 4);
  return body;
}

export function ackCount(body: Buffer): number | null {
  return body.length === 8 ? body.readUInt32BE(0) * 2 ** 32 + body.readUInt32BE(4) : null;
}

export function httpRecord(type: number, body: Buffer | string = Buffer.alloc(0)): Buffer {
  const payload = typeof body === 'string' ? Buffer.from(body, 'utf8') : body;
  const header = Buffer.alloc(5);
  header[0] = type & 0xff;
  header.writeUInt32BE(payload.length, 1);
  return Buffer.concat([header, payload]);
}

/** The records of an HTTP answer, or why it is not a run of whole records. */
export function readHttpRecords(body: Buffer): SessionRecord[] | string {
  const out: SessionRecord[] = [];
  let at = 0;
  while (at < body.length) {
    if (body.length - at < 5) return `a record header cut off at byte ${at}`;
    const length = body.readUInt32BE(at + 1);
    if (body.length - at - 5 < length) return `a record of ${length} bytes cut off at byte ${at}`;
    out.push({ type: body[at] as number, body: body.subarray(at + 5, at + 5 + length) });
    at += 5 + length;
  }
  return out;
}

export function parseJson(body: Buffer): Record<string, unknown> | null {
  try {
    const value: unknown = JSON.parse(body.toString('utf8'));
    return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>) : null;
  } catch {
    return null;
  }
}

/** One session WebSocket: what the server sent, record by record. */
export class SessionTalk {
  welcome: Record<string, unknown> | null = null;
  error: Record<string, unknown> | null = null;
  end: Record<string, unknown> | null = null;
  /** Data bytes received: the bodies of BINARY and TEXT records. */
  dataBytes = 0;
  /** Server records by type name, for the report. */
  readonly counts: Record<string, number> = {};
  /** Called with each record the server sends. */
  onRecord: ((record: SessionRecord) => void) | null = null;
  private partial: Buffer[] = [];

  constructor(
    readonly ws: RawConnection,
    private readonly random: Random,
  ) {
    // Frames that came with the 101 were read before this conversation began.
    for (const frame of ws.frames) this.onFrame(frame);
    ws.onFrame = (frame) => this.onFrame(frame);
  }

  /** Sends `payload` as one masked message (binary unless told otherwise). */
  send(payload: Buffer, opcode: number = Opcode.binary): void {
    this.ws.send(encodeFrame({ fin: true, rsv: 0, opcode, mask: this.random.bytes(4), payload, encoding: null }));
  }

  /** Sends `payload` as one message in `pieces` fragments. */
  sendFragmented(payload: Buffer, pieces: number): void {
    const size = Math.max(1, Math.ceil(payload.length / pieces));
    for (let from = 0, first = true; first || from < payload.length; from += size, first = false) {
      const last = from + size >= payload.length;
      this.ws.send(encodeFrame({ fin: last, rsv: 0, opcode: first ? Opcode.binary : Opcode.continuation, mask: this.random.bytes(4), payload: payload.subarray(from, from + size), encoding: null }));
    }
  }

  /** Waits for a WELCOME or an ERROR; null when neither came in time. */
  async greeting(timeoutMs: number): Promise<'welcome' | 'error' | null> {
    await this.ws.waitFor(() => this.welcome !== null || this.error !== null, timeoutMs);
    return this.welcome !== null ? 'welcome' : this.error !== null ? 'error' : null;
  }

  private onFrame(frame: ServerFrame): void {
    if (frame.opcode !== Opcode.binary && frame.opcode !== Opcode.continuation) {
      if (frame.opcode === Opcode.text) this.count('text message (not a record)');
      return;
    }
    this.partial.push(frame.payload);
    if (!frame.fin) return;
    const message = Buffer.concat(this.partial);
    this.partial = [];
    if (message.length === 0) {
      this.count('empty message');
      return;
    }
    const type = message[0] as number;
    const body = message.subarray(1);
    this.count(NAMES[type] ?? `type ${type}`);
    if (type === R.welcome) this.welcome ??= parseJson(body) ?? { malformed: true };
    else if (type === R.error) this.error ??= parseJson(body) ?? { malformed: true };
    else if (type === R.end) this.end ??= parseJson(body) ?? { malformed: true };
    else if (type === R.binary || type === R.text) this.dataBytes += body.length;
    this.onRecord?.({ type, body });
  }

  private count(name: string): void {
    this.counts[name] = (this.counts[name] ?? 0) + 1;
  }
}
