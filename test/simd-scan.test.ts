/*
 * The WebAssembly SIMD byte skippers, and the word-at-a-time ones that hand long runs to them,
 * against a one-byte-at-a-time reference: runs long enough to cross the 16-byte vectors, the
 * hand-over point and the copy chunks, every byte value in every lane and in the byte-wise
 * tail, at odd offsets into the buffer. Without WebAssembly (node --jitless) the word-at-a-time
 * skippers do every run themselves.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { test } from 'node:test';
import { SIMD_CHUNK_BYTES, simdSkipDigits, simdSkipPlain } from '../src/framing/simd-scan.js';
import { skipDigits, skipPlain } from '../src/framing/word-scan.js';
import { isDigit, isPlain, reference } from './helpers/byte-classes.js';
import { Random, testSeed } from './helpers/random.js';

const SEED = testSeed();

/** A byte of the class, drawn from all of it. */
function member(random: Random, inClass: (b: number) => boolean): number {
  let b = random.int(0, 255);
  while (!inClass(b)) b = random.int(0, 255);
  return b;
}

/** Long runs of the class broken by an outsider now and then (`outsiders` per byte). */
function runs(random: Random, length: number, inClass: (b: number) => boolean, outsiders: number): Buffer {
  const out = Buffer.allocUnsafe(length);
  for (let i = 0; i < length; i++) out[i] = random.chance(outsiders) ? random.int(0, 255) : member(random, inClass);
  return out;
}

for (const [name, simd, word, inClass] of [
  ['digits', simdSkipDigits, skipDigits, isDigit],
  ['plain', simdSkipPlain, skipPlain, isPlain],
] as const) {
  test(`SIMD and word ${name} skippers agree with a byte loop on long runs (seed ${SEED})`, () => {
    const random = new Random(SEED);
    for (let round = 0; round < 600; round++) {
      const outsiders = [0, 0.0005, 0.005, 0.05][round % 4] as number;
      const whole = runs(random, random.int(1, 3 * SIMD_CHUNK_BYTES + 100), inClass, outsiders);
      const from = random.int(0, Math.min(15, whole.length - 1));
      const data = whole.subarray(from, random.int(from, whole.length));
      const start = random.int(0, Math.min(data.length, 40));
      const end = random.int(start, data.length);
      const expected = reference(data, start, end, inClass);
      assert.equal(simd(data, start, end), expected, `simd, round ${round}`);
      assert.equal(word(data, start, end), expected, `word, round ${round}`);
    }
  });

  test(`SIMD ${name} skipper knows every byte value in every lane, the tail and across chunks`, () => {
    // A loop turn merges four vectors before it tests them: every lane of all four, beside the
    // class's lowest and highest member, which a merge must not mistake for an outsider or let
    // hide one.
    const members = [...Array(256).keys()].filter(inClass);
    const fillers = [members[0] as number, members[members.length - 1] as number];
    const length = 2 * SIMD_CHUNK_BYTES + 37;
    const places = [...Array(64).keys(), 64 + 5, length - 20, length - 1];
    for (let k = 0; k < 16; k++) places.push(SIMD_CHUNK_BYTES - 8 + k);
    for (const filler of fillers) {
      for (const at of places) {
        for (let b = 0; b < 256; b++) {
          const data = Buffer.alloc(length, filler);
          data[at] = b;
          const expected = inClass(b) ? length : at;
          assert.equal(simd(data, 0, length), expected, `byte 0x${b.toString(16)} at ${at} among 0x${filler.toString(16)}`);
          assert.equal(word(data, 0, length), expected, `word: byte 0x${b.toString(16)} at ${at} among 0x${filler.toString(16)}`);
        }
      }
    }
  });

  test(`SIMD ${name} skipper stops at the end it is given`, () => {
    const data = Buffer.alloc(SIMD_CHUNK_BYTES + 64, inClass(0x31) ? 0x31 : 0x61);
    for (const [start, end] of [
      [0, 0],
      [5, 5],
      [3, 19],
      [0, SIMD_CHUNK_BYTES],
      [1, SIMD_CHUNK_BYTES + 1],
      [10, data.length],
    ] as const) {
      assert.equal(simd(data, start, end), end);
    }
  });
}

test('without WebAssembly (node --jitless) the word skippers do long runs themselves', () => {
  const wordScan = new URL('../src/framing/word-scan.js', import.meta.url).href;
  const script = [
    `import { skipDigits, skipPlain } from ${JSON.stringify(wordScan)};`,
    `const digits = Buffer.alloc(${3 * SIMD_CHUNK_BYTES}, '7'); digits[${2 * SIMD_CHUNK_BYTES + 5}] = 0x20;`,
    `const plain = Buffer.alloc(${3 * SIMD_CHUNK_BYTES}, 'a'); plain[${SIMD_CHUNK_BYTES + 9}] = 0x22;`,
    'console.log(typeof WebAssembly, skipDigits(digits, 1, digits.length), skipPlain(plain, 3, plain.length));',
  ].join('\n');
  const run = spawnSync(process.execPath, ['--jitless', '--input-type=module', '-e', script], { encoding: 'utf8' });
  assert.equal(run.status, 0, run.stderr);
  assert.equal(run.stdout.trim(), `undefined ${2 * SIMD_CHUNK_BYTES + 5} ${SIMD_CHUNK_BYTES + 9}`);
});
