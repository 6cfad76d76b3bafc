/*
 * A slow client and a fast peer: websocksy pauses the peer instead of buffering, its memory
 * stays bounded, and every byte arrives in order.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { test } from 'node:test';
import { connect } from './helpers/client.js';
import { PatternCheck, pushPattern, streamServer } from './helpers/peers.js';
import { rssBytes } from './helpers/process-figures.js';
import { startWebsocksy } from './helpers/websocksy.js';

const TOTAL = 200 * 1024 * 1024;
/** The stream repeats a random block of prime length, so a lost or reordered chunk shows. */
const PATTERN = randomBytes(1_048_573);

test('200 MB to a slow client: peer paused, RSS bounded, every byte in order', { timeout: 120_000 }, async (t) => {
  // Writes of at most 256 KiB, respecting the socket's own backpressure.
  const peer = await streamServer((socket) => pushPattern(socket, PATTERN, TOTAL, 256 * 1024));
  const server = await startWebsocksy(['-l', '127.0.0.1', '-p', '0', '-c', `host=${peer.address}`, '-c', 'framing=binary']);
  const pid = server.process.pid as number;
  try {
    const baseline = rssBytes(pid);
    let peak = baseline;
    const sampler = setInterval(() => {
      peak = Math.max(peak, rssBytes(pid));
    }, 50);

    const client = await connect(server.url);
    const stream = new PatternCheck(PATTERN);
    let sincePause = 0;
    const done = new Promise<void>((resolve) => {
      // Through the client's own handler, which also gets a message that came with the 101.
      client.onMessage((data) => {
        stream.take(data);
        sincePause += data.length;
        // Read slowly: stop for a while after every 4 MiB.
        if (sincePause >= 4 * 1024 * 1024) {
          sincePause = 0;
          client.ws.pause();
          setTimeout(() => client.ws.resume(), 25);
        }
      });
      client.ws.once('close', () => resolve());
    });
    await done;
    clearInterval(sampler);

    assert.equal(stream.mismatch, null);
    assert.equal(stream.received, TOTAL);
    const closeLine = await server.waitForLog(/close id=1 .*/);
    const pauses = Number(/peer_pauses=(\d+)/.exec(closeLine)?.[1] ?? 0);
    assert.ok(pauses > 0, `the peer was paused (close line: ${closeLine})`);
    const growth = peak - baseline;
    t.diagnostic(`RSS ${(baseline / 1048576).toFixed(1)} MiB at start, peak ${(peak / 1048576).toFixed(1)} MiB; ${pauses} peer pauses`);
    assert.ok(growth < 96 * 1024 * 1024, `RSS grew by ${(growth / 1048576).toFixed(1)} MiB while carrying 200 MiB`);
  } finally {
    await server.stop();
    await peer.close();
  }
});
