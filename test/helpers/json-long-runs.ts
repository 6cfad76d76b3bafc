/*
 * JSON streams with long runs of digits and of plain string bytes: the runs the scanners skip in
 * bulk (the TS builtin's SIMD skippers, simd-scan.ts; the C plugin's eight-byte words). Run
 * lengths sit around the places where a scan changes hands: single bytes and words, 16-byte
 * vectors, the SIMD hand-over at 256 bytes, its 4 KiB chunks. Adversarial streams put a byte
 * that matters to a scanner at random places in them.
 */
import assert from 'node:assert/strict';
import { SIMD_CHUNK_BYTES } from '../../src/framing/simd-scan.js';
import type { Random } from './random.js';

function runLength(random: Random): number {
  const edge = random.pick([1, 16, 255, 256, 257, 300, SIMD_CHUNK_BYTES, 2 * SIMD_CHUNK_BYTES]);
  return Math.max(1, edge + random.int(-20, 20));
}

function digitRun(random: Random, length: number): string {
  let out = String(random.int(1, 9));
  while (out.length < length) out += String(random.int(0, 9));
  return out;
}

function plainRun(random: Random, length: number): string {
  let out = '';
  while (out.length < length) {
    const c = String.fromCharCode(random.int(0x20, 0x7e));
    if (c !== '"' && c !== '\\') out += c;
  }
  return out;
}

/** A valid value with at least one long run. */
function longValue(random: Random): string {
  switch (random.int(0, 4)) {
    case 0:
      return digitRun(random, runLength(random));
    case 1:
      return `-${digitRun(random, runLength(random))}.${digitRun(random, runLength(random))}e+${digitRun(random, 3)}`;
    case 2:
      return `"${plainRun(random, runLength(random))}${random.pick(['\\n', '\\"', '\\\\', '\\u00e9', 'é', '€', '😀', ''])}${plainRun(random, runLength(random))}"`;
    case 3:
      return `{"${plainRun(random, runLength(random))}": [${digitRun(random, runLength(random))}, "${plainRun(random, runLength(random))}"]}`;
    default:
      return `[${digitRun(random, runLength(random))}]`;
  }
}

/** One to six valid values with long runs, blanks between them, and the values themselves. */
export function longRunStream(random: Random): { stream: Buffer; values: string[] } {
  const values: string[] = [];
  for (let n = random.int(1, 6); n > 0; n--) {
    const value = (values.length === 0 ? '' : random.pick([' ', '\n', '\r\n', '\t'])) + longValue(random);
    assert.doesNotThrow(() => JSON.parse(value), `generator made invalid JSON ${value.slice(0, 80)}`);
    values.push(value);
  }
  return { stream: Buffer.from(`${values.join('')}\n`), values };
}

/** A long-run stream with a few bytes replaced by ones that matter to the scanner. */
export function adversarialLongRunStream(random: Random): Buffer {
  const stream = longRunStream(random).stream;
  const specials = [[0x22], [0x5c], [0x5c, 0x75], [0x0a], [0x00], [0x1f], [0x7f], [0x80], [0xff], [0xc3, 0xa9], [0xe2, 0x82], [0xed, 0xa0, 0x80], [0x2e], [0x65], [0x2d], [0x2c], [0x5d], [0x7d]];
  for (let n = random.int(1, 3); n > 0; n--) {
    const at = random.int(0, stream.length - 1);
    const special = random.pick(specials);
    for (let k = 0; k < special.length && at + k < stream.length; k++) stream[at + k] = special[k] as number;
  }
  return stream;
}
