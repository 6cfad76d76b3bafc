/*
 * A long message must reach the client whole however little of it the kernel takes at once.
 * uWS writes a message of 16 KiB or more with nothing queued before it in one writev (header and
 * payload); when that writev wrote no more than the header, uWS 20.30 queued the rest of the
 * header and dropped the payload, so the client saw the next frame's header where the payload
 * should have been (fixed upstream by uNetworking/uWebSockets#1662, in 20.57). A nearly full
 * socket does that now and then under load; test/preload/short-writev.c makes it happen every
 * third long send, in websocksy or in a bare uWS app. docs/engine.md, "Long sends on uWS 20.30".
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { promisify } from 'node:util';
import { engine } from '../src/front/engine.js';
import { connect } from './helpers/client.js';
import type { ProbeResult } from './helpers/long-send-probe.js';
import { PatternCheck, pushPattern, streamServer } from './helpers/peers.js';
import { ROOT, startWebsocksy } from './helpers/websocksy.js';

const SHORT_WRITEV = join(ROOT, 'build/test-preload/short-writev.so');
const PROBE = join(ROOT, 'dist/test/helpers/long-send-probe.js');
const TOTAL = 32 * 1024 * 1024;
/** A random block of prime length: a lost or shifted chunk shows at once. */
const PATTERN = randomBytes(1_048_573);

test('every byte of a stream arrives when the kernel takes only a long message\'s header', { timeout: 60_000 }, async (t) => {
  assert.ok(existsSync(SHORT_WRITEV), `${SHORT_WRITEV} is built by make build`);
  // Whole 64 KiB reads, so that each becomes one long message.
  const peer = await streamServer((socket) => pushPattern(socket, PATTERN, TOTAL, 64 * 1024));
  const server = await startWebsocksy(['-l', '127.0.0.1', '-p', '0', '-c', `host=${peer.address}`, '-c', 'framing=binary'], {
    env: { LD_PRELOAD: SHORT_WRITEV, SHORT_WRITEV_EVERY: '3' },
  });
  try {
    const client = await connect(server.url);
    const stream = new PatternCheck(PATTERN);
    let messages = 0;
    const done = new Promise<void>((resolve) => {
      client.onMessage((data) => stream.take(data, `message ${++messages} (${data.length} bytes): `));
      client.ws.once('close', () => resolve());
    });
    await done;
    t.diagnostic(`${messages} messages, ${stream.received} bytes`);
    assert.equal(stream.mismatch, null);
    assert.equal(stream.received, TOTAL);
  } finally {
    await server.stop();
    await peer.close();
  }
});

test('the engine loses a long message\'s payload where Engine.dropsShortLongSends says so, and only there', { timeout: 60_000 }, async (t) => {
  assert.ok(existsSync(SHORT_WRITEV), `${SHORT_WRITEV} is built by make build`);
  const run = async (preload: boolean): Promise<ProbeResult> => {
    const env = preload ? { ...process.env, LD_PRELOAD: SHORT_WRITEV, SHORT_WRITEV_EVERY: '3' } : process.env;
    const { stdout } = await promisify(execFile)(process.execPath, [PROBE], { env, timeout: 30_000 });
    return JSON.parse(stdout) as ProbeResult;
  };
  // Without the preload every message arrives whole: the probe itself is sound.
  const plain = await run(false);
  assert.deepEqual([plain.ending, plain.received, plain.intact], ['closed', plain.sent, plain.sent], JSON.stringify(plain));
  const short = await run(true);
  t.diagnostic(`${short.engine}, every third long send cut to its header: ${JSON.stringify(short)}`);
  if (engine().dropsShortLongSends) {
    // The payload after a cut header is gone: the client reads the next header as payload and fails.
    assert.ok(short.intact < short.sent, `uWS lost no payload, so Engine.dropsShortLongSends should be false for ${short.engine}: ${JSON.stringify(short)}`);
  } else {
    assert.deepEqual([short.ending, short.received, short.intact], ['closed', short.sent, short.sent], JSON.stringify(short));
  }
});
