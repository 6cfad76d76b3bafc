/*
 * Run by `make test-matrix` with a Node that no native uWebSockets.js build supports on this
 * machine (Node 24 on Debian 12's glibc 2.36): websocksy must refuse to start rather than serve
 * on the slow JS fallback without a word, and must run on it, with a warning, when asked to.
 * Not part of `make test`, where the native engine loads.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { closeClient, connect } from '../helpers/client.js';
import { tcpEcho } from '../helpers/peers.js';
import { runWebsocksy, startWebsocksy } from '../helpers/websocksy.js';

test('without a native build, websocksy refuses to start and names the way out', async () => {
  const { code, stderr } = await runWebsocksy(['-l', '127.0.0.1', '-p', '0']);
  assert.equal(code, 69, stderr);
  assert.match(stderr, /no native uWebSockets\.js build loads on Node v\d+\.\d+\.\d+ \(linux-x64, glibc 2\.\d+\)/);
  assert.match(stderr, /GLIBC_2\.38' not found/, 'the loader says why the newer build did not load');
  assert.match(stderr, /no build for this Node \(uws_linux_x64_\d+\.node\)/, 'and that the older package has no build for this Node');
  assert.match(stderr, /--allow-js-engine/);
});

test('--version says which engine would run', async () => {
  const { code, stdout } = await runWebsocksy(['--version']);
  assert.equal(code, 0);
  assert.match(stdout, /^engine: none native on Node v\d+/m);
});

test('with --allow-js-engine, websocksy bridges on the JS fallback and warns at start', async () => {
  const echo = await tcpEcho();
  const server = await startWebsocksy(['-l', '127.0.0.1', '-p', '0', '--allow-js-engine', '-c', `host=${echo.address}`]);
  try {
    const warning = await server.waitForLog(/engine JS fallback .*/);
    assert.match(warning, /build=websocksy-js .*cost=/);
    const client = await connect(`ws://127.0.0.1:${server.port}/`);
    client.ws.send(Buffer.from('through the fallback'));
    assert.equal((await client.next()).data.toString(), 'through the fallback');
    await closeClient(client);
  } finally {
    await server.stop();
    await echo.close();
  }
});
