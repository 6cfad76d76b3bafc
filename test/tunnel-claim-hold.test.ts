/*
 * What a tunnel socket sends behind its hello while a cluster node claims its identity
 * (src/tunnel/claim-hold.ts): held in order, as copies (uWS reuses a message's memory once its
 * callback returns), and only up to the bound. The cluster's own case is in cluster-tunnels.test.ts.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { HELD_BEFORE_WELCOME_BYTES, HeldMessages } from '../src/tunnel/claim-hold.js';

describe('messages held while an identity is claimed', () => {
  test('come out in order, as copies, and the hold is empty after', () => {
    const hold = new HeldMessages();
    const first = new Uint8Array([1, 2, 3]);
    const second = new Uint8Array([4]);
    assert.equal(hold.hold(first.buffer), true);
    assert.equal(hold.hold(second.buffer), true);
    first.fill(0);
    assert.deepEqual(hold.take().map((message) => [...new Uint8Array(message)]), [[1, 2, 3], [4]]);
    assert.deepEqual(hold.take(), []);
  });

  test(`past ${HELD_BEFORE_WELCOME_BYTES} bytes, empty messages counted too, the next is refused`, () => {
    const hold = new HeldMessages();
    const chunk = new ArrayBuffer(64 * 1024);
    let held = 0;
    while (hold.hold(chunk)) held++;
    assert.equal(held, Math.floor(HELD_BEFORE_WELCOME_BYTES / (64 * 1024 + 64)));
    const empties = new HeldMessages();
    let emptyHeld = 0;
    while (empties.hold(new ArrayBuffer(0)) && emptyHeld < 1e6) emptyHeld++;
    assert.ok(emptyHeld < 1e6, 'empty messages were never refused');
  });
});
