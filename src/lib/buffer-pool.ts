/*
 * Buffers of one size, used again once no one reads them. Each large Buffer is an ArrayBuffer of
 * its own, and V8 counts the memory of ArrayBuffers allocated since its last mark-compact against
 * the old generation's headroom: a data path that allocates one for every 64 KiB it carries runs,
 * once its heap limit was set from a small heap (a process that sat idle first), a mark-compact
 * after nearly every scavenge, for good, at half its throughput (bench/README.md, "A quiet spell
 * before the load"). The tunnel's data frames, the bridge's write slabs and HTTP uploads take
 * their buffers from pools.
 */

export class BufferPool {
  private readonly idle: ArrayBuffer[] = [];
  /** The memory this pool made: only that may come back. */
  private readonly made = new WeakSet<ArrayBufferLike>();

  /** `maxIdle` buffers are kept for reuse; past that a returned one is left to the GC. */
  constructor(
    readonly size: number,
    private readonly maxIdle: number,
  ) {}

  take(): Buffer {
    const reused = this.idle.pop();
    if (reused !== undefined) return Buffer.from(reused);
    const buffer = Buffer.allocUnsafeSlow(this.size);
    this.made.add(buffer.buffer);
    return buffer;
  }

  /**
   * Takes back the memory behind `buffer` (one taken from this pool, or a view of one), once
   * no one reads it any more; any other buffer is left alone. Memory already back is not
   * added twice: two takers sharing it would read each other's bytes.
   */
  give(buffer: Uint8Array): void {
    const memory = buffer.buffer;
    if (this.idle.length < this.maxIdle && this.made.has(memory) && !this.idle.includes(memory as ArrayBuffer)) this.idle.push(memory as ArrayBuffer);
  }
}
