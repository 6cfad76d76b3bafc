/*
 * A static file's bytes as a response body: read from the open file into a pooled 64 KiB
 * buffer, one read at a time, each handed to the client's response (ClientResponse.openBody,
 * which copies what uWS does not take at once) and the buffer read into again. A ReadStream
 * allocated a fresh 64 KiB buffer per read instead: a websocksy that sat idle before serving
 * large files then ran a mark-compact after nearly every scavenge, at a third of its speed
 * (bench/README.md, "Static files from pooled buffers"). The buffer goes back to the pool, and
 * the file is closed, only once no read is in flight: the thread pool may still be writing
 * into it.
 */
import type { FileHandle } from 'node:fs/promises';
import { errorMessage } from '../lib/errors.js';
import { BufferPool } from '../lib/buffer-pool.js';
import { guarded } from '../lib/guard.js';
import { log, type LogFields } from '../lib/log.js';
import type { BodySink, ClientResponse } from './client-response.js';

const READ_BYTES = 64 * 1024;
const pool = new BufferPool(READ_BYTES, 32);

class FileBody {
  private readonly buffer: Buffer;
  private readonly sink: BodySink;
  private position: number;
  private left: number;
  private reading = false;
  private waiting = false;
  private stopped = false;
  private released = false;

  constructor(
    private readonly answer: ClientResponse,
    private readonly handle: FileHandle,
    first: number,
    length: number,
    private readonly fields: LogFields,
    done: (error: Error | null) => void,
  ) {
    this.buffer = pool.take();
    this.position = first;
    this.left = length;
    this.sink = answer.openBody(length, (error) => {
      this.stopped = true;
      this.release();
      done(error);
    }, () => this.resume(), () => this.stop());
    this.readNext();
  }

  private resume(): void {
    this.waiting = false;
    this.readNext();
  }

  private stop(): void {
    this.stopped = true;
    this.release();
  }

  private readNext(): void {
    if (this.stopped || this.reading || this.waiting || this.left === 0) return;
    this.reading = true;
    this.handle.read(this.buffer, 0, Math.min(READ_BYTES, this.left), this.position).then(
      guarded(this.answer, 'static read', ({ bytesRead }: { bytesRead: number }) => this.onRead(bytesRead)),
      guarded(this.answer, 'static read', (error: unknown) => {
        this.reading = false;
        this.sink.fail(error instanceof Error ? error : new Error(errorMessage(error)));
        this.stop();
      }),
    );
  }

  private onRead(bytesRead: number): void {
    this.reading = false;
    if (this.stopped) {
      this.release();
      return;
    }
    if (bytesRead === 0) {
      // The file shrank since its size was read: the sink cuts the connection short of its length.
      this.sink.end();
      this.stop();
      return;
    }
    this.position += bytesRead;
    this.left -= bytesRead;
    const room = this.sink.write(this.buffer.subarray(0, bytesRead));
    if (this.left === 0) {
      this.sink.end();
      this.stop();
      return;
    }
    if (room) this.readNext();
    else this.waiting = true;
  }

  /** Gives the buffer back and closes the file, once no read is in flight. */
  private release(): void {
    if (this.released || this.reading) return;
    this.released = true;
    pool.give(this.buffer);
    this.handle.close().catch((error: unknown) => log.warn('static file close failed', { ...this.fields, why: errorMessage(error) }));
  }
}

/** Sends `length` bytes of the open file from `first` as the body, and closes the file after. */
export function sendFileBody(answer: ClientResponse, handle: FileHandle, first: number, length: number, fields: LogFields, done: (error: Error | null) => void): void {
  new FileBody(answer, handle, first, length, fields, done);
}
