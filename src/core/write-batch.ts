/*
 * Client messages on their way to a stream peer. uWS hands over a whole read's worth of messages
 * in a row, each in memory that is gone after its callback. Copying them back to back into one
 * shared slab, and writing each peer's run of them as one chunk at the end of the loop turn,
 * costs one copy per message, one allocation per MiB of traffic and one syscall per peer per turn,
 * where a Buffer and a write per message cost a malloc, a syscall and a TCP segment each.
 */
import type { Socket } from 'node:net';

const SLAB_BYTES = 1024 * 1024;
/** Messages this large are copied on their own rather than wasting the rest of a slab. */
const OWN_BUFFER_BYTES = SLAB_BYTES / 4;

let slab = Buffer.allocUnsafeSlow(SLAB_BYTES);
let slabUsed = 0;
/** The batch whose bytes end the slab; only it may grow, because only the end is free. */
let growing: WriteBatch | null = null;
let growingStart = 0;

export class WriteBatch {
  private scheduled = false;

  constructor(private readonly socket: Socket) {}

  /** Bytes copied but not handed to the socket yet. */
  get pendingBytes(): number {
    return growing === this ? slabUsed - growingStart : 0;
  }

  /** Copies `message` (valid only during this call) and sends it at the end of this loop turn. */
  add(message: Uint8Array): void {
    if (!this.scheduled) {
      this.scheduled = true;
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

  /** Forgets what was not sent yet (the peer is being destroyed). */
  discard(): void {
    if (growing === this) {
      slabUsed = growingStart;
      growing = null;
    }
  }

  /** Hands this batch's bytes at the end of the slab to the (corked) socket. */
  private seal(): void {
    if (growing !== this) return;
    if (slabUsed > growingStart) this.socket.write(slab.subarray(growingStart, slabUsed));
    growing = null;
  }

  /** End of the loop turn: the batch's bytes leave, with the socket's other writes, in one go. */
  flush(): void {
    this.scheduled = false;
    this.seal();
    this.socket.uncork();
  }
}

function flushBatch(batch: WriteBatch): void {
  batch.flush();
}
