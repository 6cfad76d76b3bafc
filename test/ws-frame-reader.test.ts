/*
 * The WebSocket client's frame reader (src/lib/ws-frame-reader.ts) on its own, with seeded
 * random input: valid streams of messages (text and binary, whole or in fragments with control
 * frames between them) cut at random points parse to the same messages whatever the cuts, and
 * random bytes never throw and report nothing after the one violation they may cause.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { FrameReader, Opcode, type FrameSink, type ViolationCode } from '../src/lib/ws-frame-reader.js';

/** A small seeded generator (mulberry32), so a failure can be replayed. */
function random(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function frame(opcode: number, payload: Buffer, fin: boolean): Buffer {
  const length = payload.length;
  const head = length < 126 ? Buffer.from([0, length]) : length < 65536 ? Buffer.alloc(4) : Buffer.alloc(10);
  head[0] = (fin ? 0x80 : 0) | opcode;
  if (length >= 65536) {
    head[1] = 127;
    head.writeUInt32BE(0, 2);
    head.writeUInt32BE(length, 6);
  } else if (length >= 126) {
    head[1] = 126;
    head.writeUInt16BE(length, 2);
  }
  return Buffer.concat([head, payload]);
}

class Recorder implements FrameSink {
  readonly events: string[] = [];
  violations = 0;
  afterViolation = 0;
  message(data: Buffer, binary: boolean): void {
    if (this.violations > 0) this.afterViolation++;
    this.events.push(`${binary ? 'bin' : 'text'} ${data.toString('hex')}`);
  }
  control(opcode: Opcode, payload: Buffer): void {
    if (this.violations > 0) this.afterViolation++;
    this.events.push(`control ${opcode} ${payload.toString('hex')}`);
  }
  violation(code: ViolationCode, why: string): void {
    if (this.violations > 0) this.afterViolation++;
    this.violations++;
    this.events.push(`violation ${code} ${why}`);
  }
}

/** Feeds `bytes` in random cuts; each cut is a view of a buffer overwritten after the call, as shared reads are. */
function feedInCuts(reader: FrameReader, bytes: Buffer, next: () => number): void {
  const scratch = Buffer.alloc(bytes.length + 1);
  for (let at = 0; at < bytes.length; ) {
    const take = Math.min(bytes.length - at, 1 + Math.floor(next() * (next() < 0.3 ? 8 : 70_000)));
    bytes.copy(scratch, 0, at, at + take);
    reader.feed(scratch.subarray(0, take));
    scratch.fill(0xee);
    at += take;
  }
}

const OPTIONS = { maxPayload: 1 << 20, binaryOnly: false, transientReads: true };

describe('WebSocket frame reader', () => {
  test('200 random streams of messages parse the same whatever the cuts', () => {
    for (let seed = 1; seed <= 200; seed++) {
      const next = random(seed);
      const parts: Buffer[] = [];
      const expected: string[] = [];
      for (let m = 0; m < 12; m++) {
        const binary = next() < 0.5;
        const size = Math.floor(next() * (next() < 0.2 ? 200_000 : 300));
        const body = binary ? Buffer.from(Array.from({ length: size }, () => Math.floor(next() * 256))) : Buffer.from('aé€𝄞'.repeat(Math.ceil(size / 10)));
        const pieces = 1 + Math.floor(next() * 4);
        const step = Math.ceil(body.length / pieces) || 1;
        for (let at = 0, first = true; first || at < body.length; at += step, first = false) {
          const last = at + step >= body.length;
          parts.push(frame(first ? (binary ? Opcode.binary : Opcode.text) : Opcode.continuation, body.subarray(at, at + step), last));
          if (!last && next() < 0.5) {
            const ping = Buffer.from([m, at & 0xff]);
            parts.push(frame(Opcode.ping, ping, true));
            expected.push(`control ${Opcode.ping} ${ping.toString('hex')}`);
          }
        }
        expected.push(`${binary ? 'bin' : 'text'} ${body.toString('hex')}`);
      }
      const stream = Buffer.concat(parts);
      const recorder = new Recorder();
      feedInCuts(new FrameReader(OPTIONS, recorder), stream, next);
      assert.deepEqual(recorder.events, expected, `seed ${seed}`);
    }
  });

  test('5 000 random byte strings never throw and report nothing after a violation', () => {
    for (let seed = 1; seed <= 5000; seed++) {
      const next = random(seed * 7919);
      const length = Math.floor(next() * 400);
      const bytes = Buffer.from(Array.from({ length }, () => Math.floor(next() * 256)));
      // Half of them start like a server's frame, so the reader gets past the first checks.
      if (length > 2 && next() < 0.5) {
        bytes[0] = (bytes[0] as number) & 0x8f;
        bytes[1] = (bytes[1] as number) & 0x7f;
      }
      const recorder = new Recorder();
      feedInCuts(new FrameReader({ ...OPTIONS, maxPayload: 4096, binaryOnly: next() < 0.3 }, recorder), bytes, next);
      assert.ok(recorder.violations <= 1, `seed ${seed}: one violation at most`);
      assert.equal(recorder.afterViolation, 0, `seed ${seed}: nothing after the violation`);
    }
  });
});
