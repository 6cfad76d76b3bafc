/*
 * When log lines leave (src/lib/log.ts): at the end of the loop turn that logged them, with the
 * turn's other lines; under a steady stream of lines, at most 16 writes per 100 ms besides one
 * per 16 KiB, and no line waits much longer than 100 ms; a warning at once, after the lines that
 * wait before it. stderr's write is recorded in this process, so each system call the logger
 * would make is counted.
 */
import assert from 'node:assert/strict';
import { afterEach, beforeEach, describe, test } from 'node:test';
import { flushLog, log } from '../src/lib/log.js';

const nextTurn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

describe('log lines leave in batches', () => {
  const writes: string[] = [];
  const realWrite = process.stderr.write;

  beforeEach(async () => {
    // Whatever earlier tests left waiting, and a quiet spell longer than the 100 ms window: each
    // test starts with the window's whole ration of writes.
    flushLog();
    await sleep(120);
    writes.length = 0;
    process.stderr.write = ((chunk: string | Uint8Array): boolean => {
      writes.push(String(chunk));
      return true;
    }) as typeof process.stderr.write;
  });

  afterEach(() => {
    process.stderr.write = realWrite;
  });

  test('a line after a quiet spell leaves at the end of its loop turn, with the turn\'s other lines', async () => {
    log.info('first', { n: 1 });
    log.info('second', { n: 2 });
    assert.equal(writes.length, 0, 'nothing is written inside the turn');
    await nextTurn();
    assert.equal(writes.length, 1);
    assert.match(writes[0] ?? '', /info {2}first n=1\n.*info {2}second n=2\n$/);
  });

  test('a line every millisecond for 300 ms: at most 16 writes per 100 ms, every line in order and soon', async () => {
    const loggedAt: number[] = [];
    const writtenAt: number[] = [];
    process.stderr.write = ((chunk: string | Uint8Array): boolean => {
      writes.push(String(chunk));
      const now = Date.now();
      for (let lines = (String(chunk).match(/ turn n=/g) ?? []).length; lines > 0; lines--) writtenAt.push(now);
      return true;
    }) as typeof process.stderr.write;
    const started = Date.now();
    while (Date.now() - started < 300 && loggedAt.length < 1000) {
      log.info('turn', { n: loggedAt.length });
      loggedAt.push(Date.now());
      await sleep(1);
    }
    const elapsed = Date.now() - started;
    await sleep(150);
    const numbers = [...writes.join('').matchAll(/ turn n=(\d+)\n/g)].map((match) => Number(match[1]));
    assert.deepEqual(numbers, Array.from({ length: loggedAt.length }, (_, n) => n), 'every line, once, in order');
    assert.ok(loggedAt.length > 50, `only ${loggedAt.length} timer turns in 300 ms: the check below would say little`);
    // One write per loop turn before; now at most 16 per window of 100 ms, and one at each window's end.
    const windows = Math.ceil(elapsed / 100) + 1;
    assert.ok(writes.length <= windows * 17, `${writes.length} writes for ${loggedAt.length} lines in ${windows} windows`);
    const longestWait = Math.max(...writtenAt.map((at, n) => at - (loggedAt[n] ?? at)));
    // 100 ms at most by the rule; the rest is slack for a busy machine's timers.
    assert.ok(longestWait <= 400, `a line waited ${longestWait} ms`);
  });

  test('16 KiB of lines waiting leave at once, inside the turn', () => {
    const field = 'x'.repeat(200);
    let logged = 0;
    while (writes.length === 0 && logged < 1000) log.info('long', { n: logged++, field });
    assert.equal(writes.length, 1, 'a write inside the turn');
    assert.ok(Buffer.byteLength(writes[0] ?? '') >= 16 * 1024);
    assert.ok(logged < 100, `${logged} lines of about 250 bytes before the write`);
    flushLog();
  });

  test('a warning leaves at once, after the lines waiting before it', () => {
    log.info('before', { n: 1 });
    log.warn('trouble', { n: 2 });
    assert.equal(writes.length, 1);
    assert.match(writes[0] ?? '', /info {2}before n=1\n.*warn {2}trouble n=2\n$/);
  });
});
