/*
 * Copies of bytes uWS lends only for the length of a callback (a piece of a request body, a large
 * client message), kept until a socket has written them. Chunks of half a pool buffer and more go
 * into pooled 64 KiB buffers (a large chunk into several), which the writer gives back once its
 * socket wrote them: 1 MiB uploads at ~500 MB/s to a websocksy that had sat idle ran 60-80
 * mark-compacts in 4 s with a fresh copy each, at half the requests per second, and 256 KiB
 * client messages through the bridge did the same (buffer-pool.ts says why). Smaller chunks get
 * a copy of their own, so a slow trickle never pins whole buffers. Each pooled buffer holds one
 * writer's bytes only: a writer that falls behind pins no one else's.
 */
import { BufferPool } from './buffer-pool.js';

const POOLED_BYTES = 64 * 1024;
const POOL_FROM = POOLED_BYTES / 2;
/** Idle buffers kept (4 MiB). */
const pool = new BufferPool(POOLED_BYTES, 64);

/** Copies `chunk` (valid only during this call) into buffers a writer may keep, in order; none for an empty one. */
export function copyIntoPieces(chunk: Uint8Array): Buffer[] {
  if (chunk.length === 0) return [];
  if (chunk.length < POOL_FROM) return [Buffer.copyBytesFrom(chunk)];
  const pieces: Buffer[] = [];
  for (let at = 0; at < chunk.length; at += POOLED_BYTES) {
    const end = Math.min(chunk.length, at + POOLED_BYTES);
    if (end - at < POOL_FROM) {
      pieces.push(Buffer.copyBytesFrom(chunk, at, end - at));
      continue;
    }
    const piece = pool.take();
    piece.set(chunk.subarray(at, end));
    pieces.push(end - at === POOLED_BYTES ? piece : piece.subarray(0, end - at));
  }
  return pieces;
}

/** A piece from copyIntoPieces that no one reads any more (its write completed): a pooled one goes back. */
export function pieceWritten(piece: Buffer): void {
  pool.give(piece);
}
