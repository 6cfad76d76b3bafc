/*
 * A slab: one pooled buffer that many small copies share, back to back, each handed to a socket
 * as a view. The memory returns to its pool (buffer-pool.ts says why that matters) once the slab
 * is retired, no more bytes going in, and every view given out has been written.
 */
import type { BufferPool } from './buffer-pool.js';

export class Slab {
  readonly bytes: Buffer;
  /** Bytes taken so far: the free room starts here. */
  used = 0;
  /** Views of this slab given to sockets whose writes have not completed. */
  private unwritten = 0;
  /** No more bytes go in: its memory goes back to the pool once its views are written. */
  private retired = false;

  constructor(private readonly pool: BufferPool) {
    this.bytes = pool.take();
  }

  /** Bytes that still fit. */
  get room(): number {
    return this.bytes.length - this.used;
  }

  /**
   * Each view's write callback, one per slab so that a write allocates no closure. A failed
   * write calls it too (its error goes where the socket reports errors); either way no one
   * reads the view any more.
   */
  readonly written = (): void => {
    this.unwritten--;
    this.releaseIfDone();
  };

  /** Copies `bytes` behind what is there (they must fit in `room`); returns where they start. */
  append(bytes: Uint8Array): number {
    const start = this.used;
    this.bytes.set(bytes, start);
    this.used = start + bytes.length;
    return start;
  }

  /** A view of `[start, used)` for a write, which must call `written` once it completes. */
  view(start: number): Buffer {
    this.unwritten++;
    return this.bytes.subarray(start, this.used);
  }

  retire(): void {
    this.retired = true;
    this.releaseIfDone();
  }

  /** Once retired, the last view written (or none given) returns the memory: exactly once. */
  private releaseIfDone(): void {
    if (this.retired && this.unwritten === 0) this.pool.give(this.bytes);
  }
}
