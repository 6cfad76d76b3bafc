/*
 * One TCP connection to the server under test, driven byte by byte: it writes whatever a case
 * asks (whole or in pieces), reads the HTTP head of the answer, splits what follows a 101 into
 * frames, and notes how and when the server ended the connection. Every connection is listed
 * until it closes, so that the end of a run can cut every one still open.
 */
import { connect, type Socket } from 'node:net';
import { ServerFrameReader, type ServerFrame } from './ws-frame.js';
import type { Random } from '../test/helpers/random.js';

export interface HttpHead {
  /** 0 when the first line is not an HTTP status line. */
  readonly status: number;
  readonly text: string;
}

export interface ServerEnd {
  /** fin: an orderly close; reset: ECONNRESET or another socket error. */
  readonly how: 'fin' | 'reset';
  readonly afterMs: number;
}

const HEAD_END = Buffer.from('\r\n\r\n');
/** A head longer than this is not an HTTP answer. */
const MAX_HEAD = 64 * 1024;

const open = new Set<RawConnection>();

/** Cuts every fuzz connection still open (the end of a run). */
export function cutAll(): void {
  for (const connection of [...open]) connection.cut('reset');
}

export class RawConnection {
  readonly startedAt = Date.now();
  head: HttpHead | null = null;
  /** 1xx answers before the head (other than 101). */
  interimAnswers = 0;
  /** The last 256 frames after a 101, in order (payloads of data frames only when small). */
  readonly frames: ServerFrame[] = [];
  /** Called with each frame as it arrives (a tunnel conversation reads its messages here). */
  onFrame: ((frame: ServerFrame) => void) | null = null;
  /** Bytes of data frames the server sent. */
  dataBytes = 0;
  serverEnd: ServerEnd | null = null;
  /** True once this side cut the connection. */
  cutByUs = false;
  private headBuffer: Buffer = Buffer.alloc(0);
  private readonly reader: ServerFrameReader;
  private readonly watchers = new Set<() => void>();

  private constructor(
    private readonly socket: Socket,
    keepBytes: number | undefined,
  ) {
    this.reader = new ServerFrameReader(keepBytes);
    open.add(this);
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('end', () => this.ended('fin'));
    socket.on('error', () => this.ended('reset'));
    socket.on('close', () => {
      this.ended('fin');
      open.delete(this);
    });
  }

  /**
   * Connects to 127.0.0.1:port; rejects if that takes longer than `timeoutMs`. `keepBytes`: the
   * largest data frame whose payload is kept (the reader's default otherwise).
   */
  static connect(port: number, timeoutMs = 5000, keepBytes?: number): Promise<RawConnection> {
    return new Promise((resolve, reject) => {
      const socket = connect({ host: '127.0.0.1', port });
      socket.setNoDelay(true);
      const timer = setTimeout(() => {
        socket.destroy();
        reject(new Error(`no connection to port ${port} in ${timeoutMs} ms`));
      }, timeoutMs);
      socket.once('connect', () => {
        clearTimeout(timer);
        socket.removeAllListeners('error');
        resolve(new RawConnection(socket, keepBytes));
      });
      socket.once('error', (error) => {
        clearTimeout(timer);
        reject(error);
      });
    });
  }

  get closed(): boolean {
    return this.serverEnd !== null || this.cutByUs;
  }

  /** Bytes after the head of a 101 that are not whole frames, or not frames at all. */
  get malformedFrames(): string | null {
    return this.reader.malformed;
  }

  get closeFrame(): ServerFrame | undefined {
    return this.frames.find((frame) => frame.opcode === 8);
  }

  /** Writes `data` unless the connection is gone; errors surface as the server's end. */
  send(data: Buffer | string): void {
    if (!this.socket.destroyed && this.socket.writable) this.socket.write(data);
  }

  /** Writes `data` in 1..4 pieces with a few milliseconds between them (reads split anywhere). */
  async sendInPieces(data: Buffer, random: Random): Promise<void> {
    const pieces = data.length < 2 ? 1 : random.int(1, 4);
    const cuts = Array.from({ length: pieces - 1 }, () => random.int(1, data.length - 1)).sort((a, b) => a - b);
    let from = 0;
    for (const at of [...cuts, data.length]) {
      if (this.closed) return;
      this.send(data.subarray(from, at));
      from = at;
      if (at < data.length) await delay(random.int(0, 15));
    }
  }

  /** Resolves true once `ready()` holds, false when the connection ends first or `timeoutMs` passes. */
  waitFor(ready: () => boolean, timeoutMs: number): Promise<boolean> {
    if (ready()) return Promise.resolve(true);
    if (this.closed) return Promise.resolve(false);
    return new Promise((resolve) => {
      const check = (): void => {
        if (ready()) finish(true);
        else if (this.closed) finish(false);
      };
      const timer = setTimeout(() => finish(false), timeoutMs);
      const finish = (result: boolean): void => {
        clearTimeout(timer);
        this.watchers.delete(check);
        resolve(result);
      };
      this.watchers.add(check);
    });
  }

  /** Waits for the answer's head (or the end); true if one came. */
  waitForHead(timeoutMs: number): Promise<boolean> {
    return this.waitFor(() => this.head !== null, timeoutMs);
  }

  /** Waits until the server closes (or `timeoutMs`); true if it did. */
  async waitForEnd(timeoutMs: number): Promise<boolean> {
    await this.waitFor(() => this.serverEnd !== null, timeoutMs);
    return this.serverEnd !== null;
  }

  /** Stops reading: the server's writes pile up in its buffers. */
  stopReading(): void {
    this.socket.pause();
  }

  resumeReading(): void {
    this.socket.resume();
  }

  /** Ends the connection from this side: `fin` closes it, `reset` sends an RST. */
  cut(mode: 'fin' | 'reset'): void {
    if (!this.closed) this.cutByUs = true;
    if (mode === 'reset') {
      if (!this.socket.destroyed) this.socket.resetAndDestroy();
    } else this.socket.destroy();
    this.wake();
  }

  private onData(chunk: Buffer): void {
    if (this.head === null) this.readHead(chunk);
    else if (this.head.status === 101) this.readFrames(chunk);
    this.wake();
  }

  /** Reads the answer's head; interim answers (100 Continue) are counted and skipped. */
  private readHead(chunk: Buffer): void {
    this.headBuffer = Buffer.concat([this.headBuffer, chunk]);
    for (;;) {
      const end = this.headBuffer.indexOf(HEAD_END);
      if (end < 0) {
        if (this.headBuffer.length > MAX_HEAD) this.head = { status: 0, text: this.headBuffer.subarray(0, 200).toString('latin1') };
        return;
      }
      const text = this.headBuffer.subarray(0, end).toString('latin1');
      const match = /^HTTP\/1\.[01] (\d{3})[ \r\n]/.exec(text + '\r\n');
      const status = match === null ? 0 : Number(match[1]);
      const rest = this.headBuffer.subarray(end + HEAD_END.length);
      this.headBuffer = Buffer.alloc(0);
      if (status >= 100 && status < 200 && status !== 101) {
        this.interimAnswers++;
        this.headBuffer = rest;
        continue;
      }
      this.head = { status, text };
      if (status === 101 && rest.length > 0) this.readFrames(rest);
      return;
    }
  }

  private readFrames(chunk: Buffer): void {
    for (const frame of this.reader.push(chunk)) {
      if (frame.opcode < 8) this.dataBytes += frame.length;
      this.frames.push(frame);
      // A stalled-reader case may get thousands of frames: only the last ones are of interest.
      if (this.frames.length > 256) this.frames.splice(0, this.frames.length - 256);
      this.onFrame?.(frame);
    }
  }

  private ended(how: 'fin' | 'reset'): void {
    if (this.serverEnd === null && !this.cutByUs) this.serverEnd = { how, afterMs: Date.now() - this.startedAt };
    this.wake();
  }

  private wake(): void {
    for (const watcher of [...this.watchers]) watcher();
  }
}

export function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
