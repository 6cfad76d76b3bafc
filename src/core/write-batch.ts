/*
 * Client messages on their way to a stream peer. uWS hands over a whole read's worth of messages
 * in a row, each in memory that is gone after its callback. Copying them back to back into one
 * shared slab, and writing each peer's run of them as one chunk at the end of the loop turn,
 * costs one copy per message, one allocation per slab of traffic and one syscall per peer per
 * turn, where a Buffer and a write per message cost a malloc, a syscall and a TCP segment each.
 *
 * A chunk handed to a socket that cannot take it at once stays in the socket's queue, and a
 * view keeps its whole slab alive. So a peer that was already behind when its turn began gets
 * an exact-size copy instead of a view, and slabs are small: a slow peer pins at most the one
 * slab of the turn in which it fell behind, never one per message.
 */
import type { Socket } from 'node:net';

const SLAB_BYTES = 256 * 1024;
/** Messages this large are copied on their own rather than wasting the rest of a slab. */
const OWN_BUFFER_BYTES = SLAB_BYTES / 4;

let slab = Buffer.allocUnsafeSlow(SLAB_BYTES);
let slabUsed = 0;
/** The batch whose bytes end the slab; only it may grow, because only the end is free. */
let growing: WriteBatch | null = null;
let growingStart = 0;

export class WriteBatch {
  private scheduled = false;
  /** The socket had bytes waiting when this turn's batch began: views into the slab would pin it. */
  private behind = false;

  constructor(private readonly socket: Socket) {}

  /** Bytes copied but not handed to the socket yet. */
  get pendingBytes(): number {
    return growing === this ? slabUsed - growingStart : 0;
  }

  /** Copies `message` (valid only during this call) and sends it at the end of this loop turn. */
  add(message: Uint8Array): void {
    if (!this.scheduled) {
      this.scheduled = true;
      this.behind = this.socket.writableLength > 0;
      this.socket.cork();
      setImmediate(flushBatch, this);
    }
    if (message.length > OWN_BUFFER_BYTES) {
      this.seal();
      this.socket.write(Buffer.copyBytesFrom(message));
      return;
    }
    if (growing !== this) {
      growing?.seal();
      growing = this;
      growingStart = slabUsed;
    }
    if (slabUsed + message.length > SLAB_BYTES) {
      this.seal();
      slab = Buffer.allocUnsafeSlow(SLAB_BYTES);
      slabUsed = 0;
      growing = this;
      growingStart = 0;
    }
    slab.set(message, slabUsed);
    slabUsed += message.length;
  }

  /** Forgets what was not handed to the socket yet (the peer is being destroyed); returns its size. */
  discard(): number {
    const pending = this.pendingBytes;
    if (growing === this) {
      slabUsed = growingStart;
      growing = null;
    }
    return pending;
  }

  /** Hands this batch's bytes at the end of the slab to the (corked) socket. */
  private seal(): void {
    if (growing !== this) return;
    if (slabUsed > growingStart) {
      const bytes = slab.subarray(growingStart, slabUsed);
      this.socket.write(this.behind ? exactCopy(bytes) : bytes);
    }
    growing = null;
  }

  /**
   * Ends the turn's batch: its bytes leave, with the socket's other writes, in one go. Runs at
   * the end of the loop turn, and at once when the peer is being closed: the bytes must reach
   * the socket before its end().
   */
  flush(): void {
    if (!this.scheduled) return;
    this.scheduled = false;
    this.seal();
    this.socket.uncork();
  }
}

/**
 * A copy that owns exactly its bytes. Buffer.copyBytesFrom takes small copies out of Buffer's
 * shared pool (8 KiB blocks on Node 20, 64 KiB on Node 24), and a queued view pins its block.
 */
function exactCopy(bytes: Uint8Array): Buffer {
  const copy = Buffer.allocUnsafeSlow(bytes.length);
  copy.set(bytes);
  return copy;
}

function flushBatch(batch: WriteBatch): void {
  batch.flush();
}
