/*
 * The sending half of an RFC 6455 client. Each frame is masked with a fresh random key (§5.3)
 * straight into a staging buffer, so the caller's bytes are read once, during the call, and
 * may be a view of memory that is reused right after (a uWS message). The frames of one
 * event-loop turn go out in one write; a staging buffer goes back to a small pool once the
 * socket wrote it. `ws` allocated a masked copy of every frame instead, which at a few hundred
 * MB/s kept V8's major collector running (bench/README.md, "Tunnel CPU per byte").
 */
import { randomFillSync } from 'node:crypto';
import { createRequire } from 'node:module';
import type { Duplex } from 'node:stream';
import { BufferPool } from './buffer-pool.js';
import { guarded, type Guarded } from './guard.js';
import type { Opcode } from './ws-frame-reader.js';

type Masker = (source: Uint8Array, mask: Uint8Array, output: Uint8Array, offset: number, length: number) => void;

function maskInJs(source: Uint8Array, mask: Uint8Array, output: Uint8Array, offset: number, length: number): void {
  for (let i = 0; i < length; i++) output[offset + i] = (source[i] as number) ^ (mask[i & 3] as number);
}

/** bufferutil's native masker when it loads (a dependency with prebuilt binaries), else JavaScript. */
function loadMasker(): Masker {
  try {
    const native = createRequire(import.meta.url)('bufferutil') as { mask?: Masker };
    if (typeof native.mask === 'function') return native.mask;
  } catch {
    // Not installed or no binary for this platform: the JavaScript loop is correct, only slower.
  }
  return maskInJs;
}
const applyMask = loadMasker();

/** Mask keys come from a pool refilled 8 KiB at a time: one getrandom per 2 048 frames. */
const randomPool = Buffer.alloc(8192);
let randomUsed = randomPool.length;
function nextMaskKey(into: Buffer, at: number): Buffer {
  if (randomUsed === randomPool.length) {
    randomFillSync(randomPool);
    randomUsed = 0;
  }
  randomPool.copy(into, at, randomUsed, randomUsed + 4);
  randomUsed += 4;
  return into.subarray(at, at + 4);
}

const STAGING_SIZE = 256 * 1024;
/** Written-out staging buffers kept for the next turns (8, 2 MiB); one for a larger frame is not the pool's. */
const stagingPool = new BufferPool(STAGING_SIZE, 8);

/** Header room: 2 bytes, 8 of extended length, 4 of mask key. */
const MAX_HEADER = 14;

export class FrameWriter {
  private staging: Buffer | null = null;
  private staged = 0;
  private flushScheduled = false;
  private stopped = false;
  private readonly flushLater: () => void;
  /** Staging buffers being written, in order: each goes back to the pool once written. */
  private readonly writing: Buffer[] = [];
  private readonly written: (error?: Error | null) => void;

  constructor(
    private readonly socket: Duplex,
    owner: Guarded,
  ) {
    this.flushLater = guarded(owner, 'websocket flush', () => this.flush());
    this.written = guarded(owner, 'websocket write', (error?: Error | null) => {
      const staging = this.writing.shift();
      // On an error the socket may not be done with the bytes: the GC takes the buffer.
      if (staging !== undefined && (error === undefined || error === null)) stagingPool.give(staging);
    });
  }

  /** Bytes staged or queued in the socket, not yet handed to the kernel. */
  get buffered(): number {
    return this.staged + this.socket.writableLength;
  }

  /** One frame with FIN set; `data` is read during the call only. */
  send(opcode: Opcode, data: Uint8Array): void {
    if (this.stopped) return;
    const length = data.length;
    if (this.staging !== null && this.staged + MAX_HEADER + length > this.staging.length) this.flush();
    if (this.staging === null) {
      this.staging = length + MAX_HEADER <= STAGING_SIZE ? stagingPool.take() : Buffer.allocUnsafe(length + MAX_HEADER);
      this.staged = 0;
    }
    const out = this.staging;
    let at = this.staged;
    out[at++] = 0x80 | opcode;
    if (length < 126) {
      out[at++] = 0x80 | length;
    } else if (length < 65536) {
      out[at++] = 0x80 | 126;
      out.writeUInt16BE(length, at);
      at += 2;
    } else {
      out[at++] = 0x80 | 127;
      out.writeUInt32BE(Math.floor(length / 2 ** 32), at);
      out.writeUInt32BE(length >>> 0, at + 4);
      at += 8;
    }
    const mask = nextMaskKey(out, at);
    at += 4;
    if (length > 0) applyMask(data, mask, out, at, length);
    this.staged = at + length;
    if (!this.flushScheduled) {
      this.flushScheduled = true;
      setImmediate(this.flushLater);
    }
  }

  /** Writes what is staged now. */
  flush(): void {
    this.flushScheduled = false;
    const staging = this.staging;
    if (staging === null || this.stopped) return;
    this.staging = null;
    this.writing.push(staging);
    this.socket.write(staging.subarray(0, this.staged), this.written);
    this.staged = 0;
  }

  /** Drops what is staged; nothing more is written. */
  stop(): void {
    this.stopped = true;
    this.staging = null;
    this.staged = 0;
  }
}
