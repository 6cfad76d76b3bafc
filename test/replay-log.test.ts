/* The replay log of a resumable session: offsets, acknowledgements, replay and its memory count. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { makeRecord, RecordType } from '../src/session/records.js';
import { ReplayLog } from '../src/session/replay-log.js';

function record(text: string): Buffer {
  return Buffer.concat([Buffer.from([3]), Buffer.from(text)]);
}

test('records after a count, acknowledgements that drop what they cover, and the bounds of a valid count', () => {
  const log = new ReplayLog();
  for (const text of ['ab', 'cde', 'f', 'ghij']) log.push(record(text), text.length);
  assert.equal(log.sent, 10);
  assert.deepEqual([...log.after(0)].map((r) => r.subarray(1).toString()), ['ab', 'cde', 'f', 'ghij']);
  assert.deepEqual([...log.after(5)].map((r) => r.subarray(1).toString()), ['f', 'ghij']);
  assert.equal(log.canAck(11), false);
  assert.equal(log.canAck(-1), false);
  assert.equal(log.canAck(2.5), false);
  log.ack(5);
  assert.equal(log.size, 2);
  assert.equal(log.unacked, 5);
  assert.equal(log.canAck(4), false, 'a count below an acknowledged one cannot be');
  assert.deepEqual(log.takeAfter(5, 1), [record('f')], 'an answer takes at least one record');
  assert.deepEqual(log.takeAfter(5, 100).length, 2);
  log.ack(10);
  assert.equal(log.size, 0);
  assert.equal(log.kept, 0);
});

test('small records count their bookkeeping, and a long log compacts as it is acknowledged', () => {
  const log = new ReplayLog();
  for (let i = 0; i < 5000; i++) log.push(record('x'), 1);
  assert.ok(log.kept >= 5000 * 96, `kept ${log.kept}`);
  for (let count = 100; count <= 4900; count += 100) log.ack(count);
  assert.equal(log.size, 100);
  assert.deepEqual([...log.after(4950)].length, 50);
  assert.equal(log.kept, 100 * (2 + 96));
});

test('the memory of an acknowledged whole-read record carries the next one, and only that record is kept for reuse', () => {
  const log = new ReplayLog();
  const read = Buffer.alloc(64 * 1024, 7);
  const whole = makeRecord(RecordType.binary, read);
  const small = makeRecord(RecordType.binary, read.subarray(0, 100));
  log.push(whole, read.length);
  log.push(small, 100);
  log.ack(read.length + 100);
  const next = makeRecord(RecordType.text, read.fill(9));
  assert.equal(next.buffer, whole.buffer, 'the acknowledged 64 KiB record is reused');
  assert.equal(next[0], RecordType.text);
  assert.ok(next.subarray(1).every((byte) => byte === 9));
  assert.notEqual(makeRecord(RecordType.binary, read).buffer, whole.buffer, 'only the one whole-read record was kept for reuse');
});
