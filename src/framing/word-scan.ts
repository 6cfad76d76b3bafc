/*
 * Runs through bytes of one class four at a time. A scalar JavaScript byte loop costs about
 * 1 ns per byte here, as much as the whole binary bridge; reading aligned 32-bit words and
 * testing all four bytes with a few additions (SWAR) costs about 0.2 ns. The json framing spends
 * most of its time in digit runs and in plain string bytes, so these two classes are the ones
 * worth it. Bytes before the first aligned word and after the last are tested one by one.
 * A run that goes on past SIMD_FROM_BYTES continues in simd-scan.ts, 64 bytes a loop turn.
 */
import { SIMD_AVAILABLE, simdSkipDigits, simdSkipPlain } from './simd-scan.js';

/** Runs shorter than this stay here: the SIMD scan's call and copy cost more than they save. */
const SIMD_FROM_BYTES = 256;

const HIGH_BITS = 0x80808080 | 0;

/**
 * A Uint32Array over the whole ArrayBuffer behind the last data scanned. Peer reads share one
 * buffer, so this is nearly always a hit; only one array is kept, so nothing large is retained
 * for long.
 */
let wordsBuffer: ArrayBufferLike | null = null;
let words: Uint32Array<ArrayBufferLike> = new Uint32Array(0);

function wordsOf(data: Uint8Array): Uint32Array<ArrayBufferLike> {
  if (data.buffer !== wordsBuffer) {
    wordsBuffer = data.buffer;
    words = new Uint32Array(data.buffer, 0, data.buffer.byteLength >>> 2);
  }
  return words;
}

/** True when every byte of `w` is an ASCII digit (0x30..0x39). */
function allDigits(w: number): boolean {
  // With no high bit set, adding 0x50 to a byte sets it iff the byte is >= 0x30, adding 0x46
  // iff it is >= 0x3a, and neither addition carries into the next byte.
  return ((w | ((w + 0x46464646) | 0) | ~((w + 0x50505050) | 0)) & HIGH_BITS) === 0;
}

/** True when no byte of `w` is a control byte, a quote, a backslash or above 0x7f. */
function allPlain(w: number): boolean {
  // Adding 0x60 sets a byte's high bit iff it is >= 0x20; adding 0x7f iff it is non-zero, which
  // after XOR with '"' or '\' means the byte is not that character. No addition carries.
  const quote = w ^ 0x22222222;
  const backslash = w ^ 0x5c5c5c5c;
  return ((w | ~((w + 0x60606060) | 0) | ~((quote + 0x7f7f7f7f) | 0) | ~((backslash + 0x7f7f7f7f) | 0)) & HIGH_BITS) === 0;
}

function isDigitByte(b: number): boolean {
  return b >= 0x30 && b <= 0x39;
}

function isPlainByte(b: number): boolean {
  return b >= 0x20 && b < 0x80 && b !== 0x22 && b !== 0x5c;
}

/** The index of the first byte in [i, end) that is not an ASCII digit, or `end`. */
export function skipDigits(data: Uint8Array, i: number, end: number): number {
  const near = i + SIMD_FROM_BYTES;
  if (near >= end || !SIMD_AVAILABLE) return wordSkipDigits(data, i, end);
  const stop = wordSkipDigits(data, i, near);
  return stop === near ? simdSkipDigits(data, near, end) : stop;
}

/**
 * The index of the first byte in [i, end) that is not plain string content (printable ASCII
 * other than `"` and `\`), or `end`.
 */
export function skipPlain(data: Uint8Array, i: number, end: number): number {
  const near = i + SIMD_FROM_BYTES;
  if (near >= end || !SIMD_AVAILABLE) return wordSkipPlain(data, i, end);
  const stop = wordSkipPlain(data, i, near);
  return stop === near ? simdSkipPlain(data, near, end) : stop;
}

function wordSkipDigits(data: Uint8Array, i: number, end: number): number {
  const base = data.byteOffset;
  while (((base + i) & 3) !== 0) {
    if (i === end || !isDigitByte(data[i] as number)) return i;
    i++;
  }
  const all = wordsOf(data);
  let word = (base + i) >>> 2;
  const lastWord = (base + end) >>> 2;
  while (word < lastWord && allDigits(all[word] as number)) word++;
  i = (word << 2) - base;
  while (i < end && isDigitByte(data[i] as number)) i++;
  return i;
}

function wordSkipPlain(data: Uint8Array, i: number, end: number): number {
  const base = data.byteOffset;
  while (((base + i) & 3) !== 0) {
    if (i === end || !isPlainByte(data[i] as number)) return i;
    i++;
  }
  const all = wordsOf(data);
  let word = (base + i) >>> 2;
  const lastWord = (base + end) >>> 2;
  while (word < lastWord && allPlain(all[word] as number)) word++;
  i = (word << 2) - base;
  while (i < end && isPlainByte(data[i] as number)) i++;
  return i;
}
