/*
 * The peer → WebSocket framing loop: websocksy's ws_peer_data contract, minus its bugs.
 * Peer bytes are handed to the framing function until it asks for more; each positive answer
 * becomes one WebSocket message. Bytes not framed yet wait in a buffer bounded by `limit`.
 */
import { WsCloseCode, WsOperation, type FramingContext, type FramingDefinition } from './api.js';

/** Why the framing loop gave up on a connection; `closeCode` is what the client is told. */
export class FramingFailure extends Error {
  constructor(
    readonly closeCode: WsCloseCode,
    message: string,
  ) {
    super(message);
    this.name = 'FramingFailure';
  }
}

/** Receives each complete message; `data` is only valid during the call. */
export interface FrameSink {
  sendFrame(data: Uint8Array, opcode: WsOperation): void;
}

/** Buffers above this size are released once drained, so idle connections stay small. */
const RETAINED_BUFFER_BYTES = 64 * 1024;
/** The first piece of a new read appended to a waiting message; each further piece doubles. */
const STITCH_FIRST_BYTES = 4096;

export class PeerFramer {
  private readonly ctx: FramingContext;
  private buffer: Buffer | null = null;
  private buffered = 0;

  constructor(
    private readonly framing: FramingDefinition,
    config: string | null,
    private readonly limit: number,
    private readonly sink: FrameSink,
  ) {
    this.ctx = { opcode: WsOperation.binary, state: null, config };
  }

  /** Bytes read from the peer that no message has carried yet. */
  get pendingBytes(): number {
    return this.buffered;
  }

  /** Frames what `chunk` completes. Throws FramingFailure when the connection must close. */
  push(chunk: Uint8Array): void {
    const start = this.buffered === 0 ? 0 : this.stitch(chunk);
    if (start === chunk.length) return;
    const data = start === 0 ? chunk : chunk.subarray(start);
    const consumed = this.frameLoop(data, data.length);
    const remaining = data.length - consumed;
    if (remaining === 0) {
      if (this.buffer !== null && this.buffer.length > RETAINED_BUFFER_BYTES) this.buffer = null;
      return;
    }
    this.checkLimit(remaining);
    this.reserve(remaining);
    (this.buffer as Buffer).set(consumed === 0 ? data : data.subarray(consumed), 0);
    this.buffered = remaining;
  }

  /**
   * Completes the message that began in an earlier read. Copying the whole new read behind the
   * waiting bytes would copy every byte once more; instead the read's head is appended in pieces
   * of growing size until the waiting bytes are framed, and the rest of the read is framed where
   * it lies. Returns where in `chunk` that rest starts.
   */
  private stitch(chunk: Uint8Array): number {
    let taken = 0;
    let piece = STITCH_FIRST_BYTES;
    while (taken < chunk.length) {
      const end = Math.min(chunk.length, taken + piece);
      const waiting = this.buffered;
      this.append(end - taken === chunk.length ? chunk : chunk.subarray(taken, end));
      const consumed = this.frameLoop((this.buffer as Buffer).subarray(0, this.buffered), end - taken);
      const remaining = this.buffered - consumed;
      if (consumed >= waiting) {
        // Every waiting byte went out: what is left is the tail of this piece, still in chunk.
        this.buffered = 0;
        return end - remaining;
      }
      this.checkLimit(remaining);
      (this.buffer as Buffer).copyWithin(0, consumed, this.buffered);
      this.buffered = remaining;
      taken = end;
      piece *= 2;
    }
    return chunk.length;
  }

  /** Calls the framing function until it wants more; returns how many bytes it framed. */
  private frameLoop(data: Uint8Array, newBytes: number): number {
    const total = data.length;
    const frame = this.framing.frame;
    const ctx = this.ctx;
    let lastRead = newBytes;
    let offset = 0;
    while (offset < total) {
      const view = offset === 0 ? data : data.subarray(offset);
      ctx.opcode = WsOperation.binary;
      const n = frame(view, lastRead, ctx);
      if (n === 0) break;
      if (!(n > 0 && n <= view.length && Number.isInteger(n))) {
        throw new FramingFailure(WsCloseCode.unexpected, this.badLengthMessage(n, view.length));
      }
      const opcode = ctx.opcode;
      if (opcode === WsOperation.binary || opcode === WsOperation.text) {
        this.sink.sendFrame(n === view.length ? view : view.subarray(0, n), opcode);
      } else if (opcode !== WsOperation.discard) {
        throw new FramingFailure(
          WsCloseCode.unexpected,
          `framing "${this.framing.name}" chose opcode ${String(opcode)}, not text, binary or discard`,
        );
      }
      offset += n;
      lastRead = Math.min(lastRead, total - offset);
    }
    return offset;
  }

  /** Releases the framing function's per-connection state (the `data === null` call). */
  close(): void {
    this.buffer = null;
    this.buffered = 0;
    if (this.ctx.state !== null) {
      this.framing.frame(null, 0, this.ctx);
      this.ctx.state = null;
    }
  }

  private checkLimit(remaining: number): void {
    if (remaining > this.limit) {
      throw new FramingFailure(
        WsCloseCode.tooBig,
        `peer message over ${this.limit} bytes without a frame boundary (framing "${this.framing.name}")`,
      );
    }
  }

  private append(chunk: Uint8Array): void {
    this.reserve(this.buffered + chunk.length);
    (this.buffer as Buffer).set(chunk, this.buffered);
    this.buffered += chunk.length;
  }

  private reserve(size: number): void {
    const current = this.buffer;
    if (current !== null && current.length >= size) return;
    const grown = Buffer.allocUnsafe(Math.max(size, current === null ? 0 : current.length * 2, 4096));
    if (current !== null && this.buffered > 0) current.copy(grown, 0, 0, this.buffered);
    this.buffer = grown;
  }

  private badLengthMessage(n: number, available: number): string {
    return `framing "${this.framing.name}" returned ${String(n)} with ${available} bytes available`;
  }
}
