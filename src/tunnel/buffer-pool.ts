/*
 * Recycled buffers for the tunnel's data path. Each large Buffer is an ArrayBuffer of its own
 * whose memory V8 counts toward its next full collection: a busy tunnel allocated several per
 * 64 KiB carried (the data frame, the copy out of uWS), and profiles of both processes showed a
 * mark-compact every ~100 ms, about a third of their CPU. A buffer goes back here only when no
 * one can read it any more: a data frame once the peer acknowledged all of it (it was delivered,
 * so no transport still holds it), a received payload once the socket's write completed.
 * Buffers are taken only for large payloads, so a small read never pins a whole one.
 */
import { BufferPool } from '../lib/buffer-pool.js';
import { HEADER_SIZE, MAX_DATA_PAYLOAD } from './protocol.js';

/** A data frame of the largest payload fits one. */
export const POOLED_SIZE = HEADER_SIZE + MAX_DATA_PAYLOAD;

/**
 * Payloads from this size on use a pooled buffer: at most half of it is wasted, so what the
 * replay list and write queues pin stays within twice the window.
 */
export const POOL_FROM = POOLED_SIZE / 2;

/** Idle buffers kept per process: 64, 4 MiB. */
const pool = new BufferPool(POOLED_SIZE, 64);

export function takeBuffer(): Buffer {
  return pool.take();
}

/** `buffer` must come from takeBuffer() and be read by no one any more. */
export function giveBuffer(buffer: Buffer): void {
  pool.give(buffer);
}
