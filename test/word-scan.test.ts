/*
 * The word-at-a-time byte skippers against a one-byte-at-a-time reference, on random data with
 * every alignment: the SWAR tests must agree on every byte value, and never step back or past
 * the end.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { skipDigits, skipPlain } from '../src/framing/word-scan.js';
import { isDigit, isPlain, reference } from './helpers/byte-classes.js';
import { Random, testSeed } from './helpers/random.js';

const SEED = testSeed();

/** Mostly bytes of the class, with an outsider now and then, so that long runs happen. */
function biased(random: Random, length: number, inClass: (b: number) => boolean): Buffer {
  const out = Buffer.allocUnsafe(length);
  for (let i = 0; i < length; i++) {
    let b = random.int(0, 255);
    if (random.chance(0.97)) while (!inClass(b)) b = random.int(0, 255);
    out[i] = b;
  }
  return out;
}

for (const [name, skip, inClass] of [
  ['skipDigits', skipDigits, isDigit],
  ['skipPlain', skipPlain, isPlain],
] as const) {
  test(`${name} agrees with a byte loop at every alignment (seed ${SEED})`, () => {
    const random = new Random(SEED);
    for (let round = 0; round < 2000; round++) {
      const whole = biased(random, random.int(1, 300), inClass);
      // A view at an odd offset into its ArrayBuffer, as framer buffers and subarrays are.
      const from = random.int(0, Math.min(7, whole.length - 1));
      const data = whole.subarray(from, random.int(from, whole.length));
      const start = random.int(0, data.length);
      const end = random.int(start, data.length);
      assert.equal(skip(data, start, end), reference(data, start, end, inClass), `round ${round}`);
    }
  });

  test(`${name} knows every byte value`, () => {
    for (let b = 0; b < 256; b++) {
      for (let at = 0; at < 8; at++) {
        const data = Buffer.alloc(16, inClass(0x31) ? 0x31 : 0x61);
        data[at] = b;
        assert.equal(skip(data, 0, 16), inClass(b) ? 16 : at, `byte 0x${b.toString(16)} at ${at}`);
      }
    }
  });
}
