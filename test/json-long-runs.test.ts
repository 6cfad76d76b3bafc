/*
 * The json framing on values with long runs of digits and of plain string bytes, the runs the
 * scanner hands to the SIMD skippers (simd-scan.ts). Fed one byte per read, the scanner never
 * sees a run longer than one byte: that is the byte-wise behaviour every other way of reading
 * the same stream must match. Valid streams frame as the values they were built from, whole,
 * in random splits and in 64 KiB reads like a peer's. Adversarial streams put a quote, a
 * backslash, an escape, a multi-byte or invalid UTF-8 sequence, a control byte or a stray number
 * byte at random places in long runs; the scanner, given all of the rest at once, must end each
 * value where the byte-wise scan does and fail exactly at the byte where it fails.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { SIMD_CHUNK_BYTES } from '../src/framing/simd-scan.js';
import { INCOMPLETE, INVALID, JsonScanner } from '../src/framing/json-scanner.js';
import { jsonFraming } from '../src/framing/json.js';
import { byteChunks, feed, splits, text } from './helpers/framing-streams.js';
import { Random, testSeed } from './helpers/random.js';

const SEED = testSeed();

/** Run lengths around the places where the scan changes hands: vectors, hand-over, chunks. */
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

function validStream(random: Random): { stream: Buffer; values: string[] } {
  const values: string[] = [];
  for (let n = random.int(1, 6); n > 0; n--) {
    const value = (values.length === 0 ? '' : random.pick([' ', '\n', '\r\n', '\t'])) + longValue(random);
    assert.doesNotThrow(() => JSON.parse(value), `generator made invalid JSON ${value.slice(0, 80)}`);
    values.push(value);
  }
  return { stream: Buffer.from(`${values.join('')}\n`), values };
}

/** A valid stream with a few bytes replaced by ones that matter to the scanner. */
function adversarialStream(random: Random): Buffer {
  const stream = validStream(random).stream;
  const specials = [[0x22], [0x5c], [0x5c, 0x75], [0x0a], [0x00], [0x1f], [0x7f], [0x80], [0xff], [0xc3, 0xa9], [0xe2, 0x82], [0xed, 0xa0, 0x80], [0x2e], [0x65], [0x2d], [0x2c], [0x5d], [0x7d]];
  for (let n = random.int(1, 3); n > 0; n--) {
    const at = random.int(0, stream.length - 1);
    const special = random.pick(specials);
    for (let k = 0; k < special.length && at + k < stream.length; k++) stream[at + k] = special[k] as number;
  }
  return stream;
}

function peerReads(stream: Buffer): Buffer[] {
  const reads: Buffer[] = [];
  for (let at = 0; at < stream.length; at += 64 * 1024) reads.push(stream.subarray(at, at + 64 * 1024));
  return reads;
}

function assertMatchesByteWise(stream: Buffer, random: Random, where: string): void {
  const byteWise = feed(jsonFraming, null, byteChunks(stream));
  for (const [how, chunks] of [...splits(random, stream), ['64 KiB reads', peerReads(stream)] as [string, Buffer[]]]) {
    assert.deepEqual(feed(jsonFraming, null, chunks), byteWise, `${where}: ${how}`);
  }
}

/** What a fresh scanner answers for `data` all at once. */
function scanAtOnce(data: Buffer): number {
  return new JsonScanner().scan(data, data.length);
}

/**
 * Scans the stream value by value one byte at a time, and checks each answer against a scan of
 * all the rest at once: the same value ends, and an error at exactly the same byte (the rest up
 * to it fails, the rest up to the byte before does not).
 */
function assertScansLikeByteWise(stream: Buffer, where: string): void {
  const byteWise = new JsonScanner();
  let at = 0;
  let taken = 1;
  while (at + taken <= stream.length) {
    const result = byteWise.scan(stream.subarray(at, at + taken), 1);
    const context = `${where}, value at ${at}, ${taken} bytes`;
    if (result === INCOMPLETE) {
      taken++;
      continue;
    }
    if (result === INVALID) {
      assert.equal(scanAtOnce(stream.subarray(at)), INVALID, `${context}: the rest at once`);
      assert.equal(scanAtOnce(stream.subarray(at, at + taken)), INVALID, `${context}: up to the failing byte`);
      assert.notEqual(scanAtOnce(stream.subarray(at, at + taken - 1)), INVALID, `${context}: up to the byte before`);
      at += taken;
    } else {
      assert.equal(scanAtOnce(stream.subarray(at)), result, `${context}: the rest at once`);
      at += result;
    }
    taken = 1;
  }
  if (at < stream.length) assert.equal(scanAtOnce(stream.subarray(at)), INCOMPLETE, `${where}: the unfinished rest`);
}

test(`long valid values frame as built and as fed byte by byte (seed ${SEED})`, () => {
  const random = new Random(SEED);
  for (let iteration = 0; iteration < 60; iteration++) {
    const { stream, values } = validStream(random);
    const where = `iteration ${iteration}, TEST_SEED=${SEED}`;
    assert.deepEqual(feed(jsonFraming, null, [stream]), { frames: text(...values), pending: 1 }, where);
    assertMatchesByteWise(stream, random, where);
  }
});

test(`long values with adversarial bytes scan as byte by byte (seed ${SEED})`, () => {
  const random = new Random(SEED);
  for (let iteration = 0; iteration < 200; iteration++) {
    assertScansLikeByteWise(adversarialStream(random), `iteration ${iteration}, TEST_SEED=${SEED}`);
  }
});
