/*
 * Checks that every byte a client sent reached its peer, and that websocksy's close lines say
 * so: one close line per connection, its to_peer equal to what that peer got, no `undelivered`.
 * Connections are told apart by the sha256 of all they sent, so their order does not matter.
 */
import assert from 'node:assert/strict';
import { digests, totalLength, type RecordingPeer } from './recorders.js';
import type { RunningWebsocksy } from './websocksy.js';

/** What one connection's peer should get. */
export interface Expected {
  readonly sha256: string;
  readonly length: number;
}

/** What one connection sends: its messages, and what the peer should get of them. */
export interface Sent extends Expected {
  readonly messages: readonly Buffer[];
}

export function sent(messages: readonly Buffer[]): Sent {
  const bytes = Buffer.concat(messages);
  return { messages, sha256: digests([bytes])[0] as string, length: bytes.length };
}

/** Waits for every connection's bytes at `peer`, then compares them whole (in any order). */
export async function assertDelivered(peer: RecordingPeer, expected: readonly Expected[], timeoutMs = 20_000): Promise<void> {
  const want = expected.map((one) => one.sha256).sort();
  let got: Buffer[];
  try {
    got = await peer.waitFor(expected.length, expected.reduce((sum, one) => sum + one.length, 0), timeoutMs);
  } catch (error) {
    got = peer.deliveries();
    const wanted = new Set(want);
    const whole = digests(got).filter((digest) => wanted.has(digest)).length;
    assert.fail(`${whole} of ${expected.length} connections delivered whole: ${(error as Error).message}`);
  }
  assert.deepEqual(digests(got), want, `the peer got ${got.length} deliveries, ${totalLength(got)} bytes`);
}

/** The close lines of the log, once there are `count` of them. */
export async function closeLines(server: RunningWebsocksy, count: number, timeoutMs = 20_000): Promise<string[]> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const lines = server.log().match(/\bclose id=.*/g) ?? [];
    if (lines.length >= count) return lines;
    assert.ok(Date.now() < deadline, `${lines.length} of ${count} close lines in ${timeoutMs} ms; log:\n${server.log()}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

function field(line: string, name: string): number | undefined {
  const value = new RegExp(`\\b${name}=(\\d+)`).exec(line)?.[1];
  return value === undefined ? undefined : Number(value);
}

/** Every connection's close line counts exactly the bytes its peer got, and nothing undelivered. */
export async function assertCloseLinesCount(server: RunningWebsocksy, expected: readonly Expected[]): Promise<void> {
  const lines = await closeLines(server, expected.length);
  assert.equal(lines.length, expected.length, `one close line per connection:\n${lines.join('\n')}`);
  for (const line of lines) assert.equal(field(line, 'undelivered'), undefined, `nothing undelivered: ${line}`);
  const toPeer = lines.map((line) => field(line, 'to_peer') ?? -1).sort((a, b) => a - b);
  assert.deepEqual(toPeer, expected.map((one) => one.length).sort((a, b) => a - b));
}
