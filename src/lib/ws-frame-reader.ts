/*
 * The receiving half of an RFC 6455 client: the server's frames parsed as the socket's reads
 * arrive, whole messages handed on. A message whose one frame lies whole in a read is handed
 * over as a view of that read, not copied; one split across reads or fragmented is gathered in
 * a buffer the reader keeps (dropped after an unusually large message, so that one big message
 * does not pin its size for the connection's life). Control frames may come between the
 * fragments of a message and have a small buffer of their own. Text messages are checked as
 * UTF-8 once whole. What breaks the protocol is reported once with the close code to send
 * (1002, 1007 or 1009), and nothing more is read.
 */
import { isUtf8 } from 'node:buffer';

export const enum Opcode {
  continuation = 0x0,
  text = 0x1,
  binary = 0x2,
  close = 0x8,
  ping = 0x9,
  pong = 0xa,
}

export const enum ViolationCode {
  protocol = 1002,
  invalidData = 1007,
  tooBig = 1009,
}

export interface FrameSink {
  /** One whole message; `owned` is false when `data` is valid only during the call. */
  message(data: Buffer, binary: boolean, owned: boolean): void;
  /** A close, ping or pong frame's payload, valid only during the call. */
  control(opcode: Opcode, payload: Buffer): void;
  /** The server broke the protocol; `code` is the close code that says so. */
  violation(code: ViolationCode, why: string): void;
}

export interface FrameReaderOptions {
  /** The largest message, in bytes, all its fragments together. */
  readonly maxPayload: number;
  /** Text and fragmented messages are violations (a peer that only ever sends whole binary messages). */
  readonly binaryOnly: boolean;
  /** The socket's reads are views of a buffer reused after each call (shared-read.ts). */
  readonly transientReads: boolean;
}

/** A server frame's header: 2 bytes and 8 of extended length (a server never masks). */
const MAX_HEADER = 10;
const MAX_CONTROL_PAYLOAD = 125;
/** A gather buffer past this size is let go after its message, not kept for the next. */
const KEPT_GATHER = 256 * 1024;
const EMPTY = Buffer.alloc(0);

export class FrameReader {
  private readonly header = Buffer.alloc(MAX_HEADER);
  private headerHave = 0;
  /** Bytes of the current frame's payload still to come; -1 while reading a header. */
  private payloadLeft = -1;
  private frameOpcode = 0;
  private frameFin = false;
  private frameLength = 0;
  /** The opcode of the data message in progress (text or binary), 0 between messages. */
  private messageOpcode = 0;
  private gather = EMPTY;
  private gathered = 0;
  private readonly controlPayload = Buffer.alloc(MAX_CONTROL_PAYLOAD);
  private controlHave = 0;
  private stopped = false;

  constructor(
    private readonly options: FrameReaderOptions,
    private readonly sink: FrameSink,
  ) {}

  /** Nothing more is parsed or reported. */
  stop(): void {
    this.stopped = true;
  }

  feed(chunk: Buffer): void {
    let at = 0;
    while (at < chunk.length && !this.stopped) {
      at = this.payloadLeft < 0 ? this.readHeader(chunk, at) : this.readPayload(chunk, at);
    }
  }

  /** Reads header bytes from `chunk` at `at`; returns where it stopped. */
  private readHeader(chunk: Buffer, at: number): number {
    while (at < chunk.length) {
      this.header[this.headerHave++] = chunk[at++] as number;
      if (this.headerHave < 2) continue;
      const second = this.header[1] as number;
      const lengthCode = second & 0x7f;
      const need = lengthCode === 126 ? 4 : lengthCode === 127 ? 10 : 2;
      if (this.headerHave < need) continue;
      this.headerHave = 0;
      this.startFrame();
      return at;
    }
    return at;
  }

  private startFrame(): void {
    const first = this.header[0] as number;
    const second = this.header[1] as number;
    const lengthCode = second & 0x7f;
    const length = lengthCode === 126 ? this.header.readUInt16BE(2) : lengthCode === 127 ? this.header.readUInt32BE(2) * 2 ** 32 + this.header.readUInt32BE(6) : lengthCode;
    const opcode = first & 0x0f;
    const fin = (first & 0x80) !== 0;
    if ((second & 0x80) !== 0) return this.violate(ViolationCode.protocol, 'the server masked a frame');
    if ((first & 0x70) !== 0) return this.violate(ViolationCode.protocol, 'a frame with reserved bits set (no extension was negotiated)');
    if (opcode >= Opcode.close) {
      if (opcode > Opcode.pong) return this.violate(ViolationCode.protocol, `a frame of unknown opcode ${opcode}`);
      if (!fin) return this.violate(ViolationCode.protocol, 'a fragmented control frame');
      if (length > MAX_CONTROL_PAYLOAD) return this.violate(ViolationCode.protocol, `a control frame of ${length} bytes, more than ${MAX_CONTROL_PAYLOAD}`);
    } else if (!this.startDataFrame(opcode, fin, length)) {
      return;
    }
    this.frameOpcode = opcode;
    this.frameFin = fin;
    this.frameLength = length;
    this.payloadLeft = length;
    if (length === 0) this.endFrame(EMPTY, true);
  }

  /** Checks a data frame against the message in progress; false after a violation. */
  private startDataFrame(opcode: number, fin: boolean, length: number): boolean {
    if (opcode === Opcode.continuation) {
      if (this.messageOpcode === 0) return this.violated(ViolationCode.protocol, 'a continuation frame with no message begun');
    } else if (opcode === Opcode.text || opcode === Opcode.binary) {
      if (this.messageOpcode !== 0) return this.violated(ViolationCode.protocol, 'a new message before the fragmented one ended');
      if (this.options.binaryOnly && opcode === Opcode.text) return this.violated(ViolationCode.protocol, 'a text message where only binary ones are expected');
      this.messageOpcode = opcode;
    } else {
      return this.violated(ViolationCode.protocol, `a frame of unknown opcode ${opcode}`);
    }
    if (this.options.binaryOnly && !fin) return this.violated(ViolationCode.protocol, 'a fragmented message where only whole ones are expected');
    const total = this.gathered + length;
    if (total > this.options.maxPayload) return this.violated(ViolationCode.tooBig, `a message of ${total} bytes or more, over the ${this.options.maxPayload} allowed`);
    return true;
  }

  private readPayload(chunk: Buffer, at: number): number {
    const take = Math.min(this.payloadLeft, chunk.length - at);
    const end = at + take;
    if (this.frameOpcode >= Opcode.close) {
      chunk.copy(this.controlPayload, this.controlHave, at, end);
      this.controlHave += take;
    } else if (take === this.frameLength && this.frameFin && this.gathered === 0) {
      // A whole message in this read: handed over where it lies.
      this.payloadLeft = -1;
      this.endMessage(chunk.subarray(at, end), !this.options.transientReads);
      return end;
    } else {
      if (this.gather.length < this.gathered + take) this.growGather(this.gathered + this.payloadLeft);
      chunk.copy(this.gather, this.gathered, at, end);
      this.gathered += take;
    }
    this.payloadLeft -= take;
    if (this.payloadLeft === 0) this.endFrame(EMPTY, false);
    return end;
  }

  private growGather(needed: number): void {
    const grown = Buffer.allocUnsafe(Math.max(needed, Math.min(this.options.maxPayload, 2 * this.gather.length)));
    this.gather.copy(grown, 0, 0, this.gathered);
    this.gather = grown;
  }

  /** The frame's payload is all in; `empty` is true for a frame that had none. */
  private endFrame(payload: Buffer, empty: boolean): void {
    this.payloadLeft = -1;
    const opcode = this.frameOpcode;
    if (opcode >= Opcode.close) {
      const control = empty ? payload : this.controlPayload.subarray(0, this.controlHave);
      this.controlHave = 0;
      this.sink.control(opcode, control);
      return;
    }
    if (!this.frameFin) return;
    const whole = this.gathered === 0 ? payload : this.gather.subarray(0, this.gathered);
    const gatheredBytes = this.gathered;
    this.gathered = 0;
    this.endMessage(whole, false);
    if (gatheredBytes > KEPT_GATHER || this.gather.length > KEPT_GATHER) this.gather = EMPTY;
  }

  private endMessage(data: Buffer, owned: boolean): void {
    const opcode = this.messageOpcode;
    this.messageOpcode = 0;
    if (opcode === Opcode.text && !isUtf8(data)) return this.violate(ViolationCode.invalidData, 'a text message that is not UTF-8');
    this.sink.message(data, opcode === Opcode.binary, owned);
  }

  private violate(code: ViolationCode, why: string): void {
    this.stopped = true;
    this.sink.violation(code, why);
  }

  private violated(code: ViolationCode, why: string): false {
    this.violate(code, why);
    return false;
  }
}
