/*
 * WebSocket frames as a hostile client writes them (RFC 6455 §5.2), byte by byte: any opcode,
 * reserved bits, with or without a mask, the length in any of its three encodings whether or
 * not it is the shortest, and a declared length that need not match the payload (up to
 * 2^64-1), and as a hostile server writes them (unmasked: the scripted WebSocket upstream).
 * And the reader for what the server sends back, which is always unmasked (or for what
 * websocksy's own client sends its upstream, always masked), with messages joined from it.
 */

export const Opcode = { continuation: 0, text: 1, binary: 2, close: 8, ping: 9, pong: 10 } as const;

export type LengthEncoding = '7' | '16' | '64';

export interface FrameSpec {
  readonly fin: boolean;
  /** RSV1..RSV3 as the three bits 0b100, 0b010, 0b001. */
  readonly rsv: number;
  readonly opcode: number;
  /** The 4-byte masking key, or null for an unmasked (client-illegal) frame. */
  readonly mask: Buffer | null;
  readonly payload: Buffer;
  /** Null: the shortest encoding for the payload's length. */
  readonly encoding: LengthEncoding | null;
  /** What the header claims; defaults to the payload's length. */
  readonly declared?: bigint;
}

function shortestEncoding(length: bigint): LengthEncoding {
  if (length <= 125n) return '7';
  return length <= 0xffffn ? '16' : '64';
}

/** The frame's header and (masked) payload as one buffer. */
export function encodeFrame(spec: FrameSpec): Buffer {
  const declared = spec.declared ?? BigInt(spec.payload.length);
  const encoding = spec.encoding ?? shortestEncoding(declared);
  const lengthBytes = encoding === '7' ? 0 : encoding === '16' ? 2 : 8;
  const maskBytes = spec.mask === null ? 0 : 4;
  const frame = Buffer.alloc(2 + lengthBytes + maskBytes + spec.payload.length);
  frame[0] = (spec.fin ? 0x80 : 0) | ((spec.rsv & 7) << 4) | (spec.opcode & 15);
  const maskBit = spec.mask === null ? 0 : 0x80;
  if (encoding === '7') frame[1] = maskBit | Number(declared & 0x7fn);
  else if (encoding === '16') {
    frame[1] = maskBit | 126;
    frame.writeUInt16BE(Number(declared & 0xffffn), 2);
  } else {
    frame[1] = maskBit | 127;
    frame.writeBigUInt64BE(declared & 0xffffffffffffffffn, 2);
  }
  const start = 2 + lengthBytes + maskBytes;
  if (spec.mask === null) spec.payload.copy(frame, start);
  else {
    spec.mask.copy(frame, 2 + lengthBytes);
    for (let i = 0; i < spec.payload.length; i++) frame[start + i] = (spec.payload[i] as number) ^ (spec.mask[i & 3] as number);
  }
  return frame;
}

/** A well-formed masked frame, for the parts of a conversation that are not under test. */
export function clientFrame(opcode: number, payload: Buffer, mask: Buffer = Buffer.from([0x12, 0x34, 0x56, 0x78])): Buffer {
  return encodeFrame({ fin: true, rsv: 0, opcode, mask, payload, encoding: null });
}

/** A close frame's payload: the code, then the reason. */
export function closePayload(code: number, reason: Buffer = Buffer.alloc(0)): Buffer {
  const payload = Buffer.alloc(2 + reason.length);
  payload.writeUInt16BE(code & 0xffff, 0);
  reason.copy(payload, 2);
  return payload;
}

export interface ServerFrame {
  readonly fin: boolean;
  /** RSV1..RSV3 as the three bits 0b100, 0b010, 0b001. */
  readonly rsv: number;
  readonly opcode: number;
  /** Kept whole (unmasked) for control frames and for messages up to `keepBytes`; otherwise empty. */
  readonly payload: Buffer;
  readonly length: number;
}

/**
 * Splits what one side sends into frames, across reads; anything malformed is reported once.
 * A server's frames are never masked; a client's always are (RFC 6455 §5.1), and are unmasked
 * here: the scripted WebSocket upstream reads websocksy's own client with `masked`.
 */
export class ServerFrameReader {
  private pending: Buffer = Buffer.alloc(0);
  /** Why the bytes are not valid frames, if they are not. */
  malformed: string | null = null;

  constructor(
    private readonly keepBytes = 128 * 1024,
    private readonly masked = false,
  ) {}

  push(chunk: Buffer): ServerFrame[] {
    if (this.malformed !== null) return [];
    this.pending = this.pending.length === 0 ? chunk : Buffer.concat([this.pending, chunk]);
    const frames: ServerFrame[] = [];
    for (;;) {
      const frame = this.take();
      if (frame === null) break;
      frames.push(frame);
    }
    return frames;
  }

  private take(): ServerFrame | null {
    const data = this.pending;
    if (data.length < 2) return null;
    const first = data[0] as number;
    const second = data[1] as number;
    if (((second & 0x80) !== 0) !== this.masked) {
      this.malformed = this.masked ? 'the client sent an unmasked frame' : 'the server masked a frame';
      return null;
    }
    let offset = 2;
    let length = second & 0x7f;
    if (length === 126) {
      if (data.length < 4) return null;
      length = data.readUInt16BE(2);
      offset = 4;
    } else if (length === 127) {
      if (data.length < 10) return null;
      const long = data.readBigUInt64BE(2);
      if (long > BigInt(Number.MAX_SAFE_INTEGER)) {
        this.malformed = `${this.masked ? 'the client' : 'the server'} declared a ${long} byte frame`;
        return null;
      }
      length = Number(long);
      offset = 10;
    }
    const maskAt = offset;
    if (this.masked) offset += 4;
    if (data.length < offset + length) return null;
    const opcode = first & 15;
    const control = opcode >= 8;
    const body = data.subarray(offset, offset + length);
    const payload = control || length <= this.keepBytes ? Buffer.from(body) : Buffer.alloc(0);
    if (this.masked) for (let i = 0; i < payload.length; i++) payload[i] = (payload[i] as number) ^ (data[maskAt + (i & 3)] as number);
    this.pending = data.subarray(offset + length);
    return { fin: (first & 0x80) !== 0, rsv: (first >> 4) & 7, opcode, payload, length };
  }
}

export interface WsMessage {
  readonly binary: boolean;
  readonly data: Buffer;
}

/** Joins data frames into messages (control frames between fragments are passed over). */
export class MessageJoiner {
  private parts: Buffer[] = [];
  private binary: boolean | null = null;

  /** The message `frame` completes, or null. A continuation with no start counts as binary. */
  push(frame: ServerFrame): WsMessage | null {
    if (frame.opcode >= 8) return null;
    if (frame.opcode !== Opcode.continuation || this.binary === null) this.binary = frame.opcode !== Opcode.text;
    this.parts.push(frame.payload);
    if (!frame.fin) return null;
    const message = { binary: this.binary, data: Buffer.concat(this.parts) };
    this.parts = [];
    this.binary = null;
    return message;
  }
}
