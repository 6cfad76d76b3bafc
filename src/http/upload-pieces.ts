/*
 * The copies of a request body on its way to an upstream. uWS lends each piece of the body only
 * for the length of its callback, so it is copied. Pieces of half a pool buffer and more go into
 * pooled 64 KiB buffers (a large piece into several), which the http:// upstream connection
 * gives back once its socket has written them: 1 MiB uploads at ~500 MB/s to a websocksy that
 * had sat idle ran 60-80 mark-compacts in 4 s with a fresh copy each, at half the requests per
 * second (lib/buffer-pool.ts says why). Smaller pieces get a copy of their own, so a slow
 * trickle never pins whole buffers. Other upstreams (undici's) leave theirs to the GC.
 */
import { BufferPool } from '../lib/buffer-pool.js';

const POOLED_BYTES = 64 * 1024;
const POOL_FROM = POOLED_BYTES / 2;
/** Idle buffers kept (4 MiB). */
const pool = new BufferPool(POOLED_BYTES, 64);

/** Copies `chunk` (valid only during this call) into buffers a body stream may keep, in order; none for an empty one. */
export function copyUploadPieces(chunk: Uint8Array): Buffer[] {
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

/** A piece from copyUploadPieces that no one reads any more (its write completed): a pooled one goes back. */
export function uploadPieceWritten(piece: Buffer): void {
  pool.give(piece);
}
