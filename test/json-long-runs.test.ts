/*
 * The json framing on values with long runs of digits and of plain string bytes, the runs the
 * scanner hands to the SIMD skippers (simd-scan.ts; the streams are helpers/json-long-runs.ts's).
 * Fed one byte per read, the scanner never sees a run longer than one byte: that is the byte-wise behaviour every other way of reading
 * the same stream must match. Valid streams frame as the values they were built from, whole,
 * in random splits and in 64 KiB reads like a peer's. Adversarial streams put a quote, a
 * backslash, an escape, a multi-byte or invalid UTF-8 sequence, a control byte or a stray number
 * byte at random places in long runs; the scanner, given all of the rest at once, must end each
 * value where the byte-wise scan does and fail exactly at the byte where it fails.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { INCOMPLETE, INVALID, JsonScanner } from '../src/framing/json-scanner.js';
import { jsonFraming } from '../src/framing/json.js';
import { byteChunks, feed, peerReads, splits, text } from './helpers/framing-streams.js';
import { adversarialLongRunStream, longRunStream } from './helpers/json-long-runs.js';
import { Random, testSeed } from './helpers/random.js';

const SEED = testSeed();

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
    const { stream, values } = longRunStream(random);
    const where = `iteration ${iteration}, TEST_SEED=${SEED}`;
    assert.deepEqual(feed(jsonFraming, null, [stream]), { frames: text(...values), pending: 1 }, where);
    assertMatchesByteWise(stream, random, where);
  }
});

test(`long values with adversarial bytes scan as byte by byte (seed ${SEED})`, () => {
  const random = new Random(SEED);
  for (let iteration = 0; iteration < 200; iteration++) {
    assertScansLikeByteWise(adversarialLongRunStream(random), `iteration ${iteration}, TEST_SEED=${SEED}`);
  }
});
