/*
 * The fuzzer (fuzz/, `make fuzz`) runs for a few seconds so that it cannot rot, and what it
 * found stays fixed: each input below once crashed the server, smuggled a request past the
 * /api route, threw inside the /chat relay or leaked an exception's text, and is replayed here against the fuzzer's own
 * targets (a TCP echo peer, an HTTP upstream, a `ws` echo and the tunnel endpoint).
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { after, before, describe, test } from 'node:test';
import { RawConnection } from '../fuzz/raw-connection.js';
import { PREFIX } from '../fuzz/target-paths.js';
import { startTargets, type Targets } from '../fuzz/targets.js';
import { TunnelConversation } from '../fuzz/tunnel-conversation.js';
import { hello } from '../fuzz/tunnel-script.js';
import { render, upgradeDraft } from '../fuzz/request-draft.js';
import { TUNNEL_SUBPROTOCOL } from '../src/tunnel/protocol.js';
import { tempDir } from './helpers/peers.js';
import { Random } from './helpers/random.js';
import { ROOT } from './helpers/websocksy.js';

describe('make fuzz', () => {
  test('runs for a few seconds against every target and passes', async () => {
    const child = spawn(process.execPath, [`${ROOT}dist/fuzz/main.js`], {
      cwd: ROOT,
      env: { ...process.env, FUZZ_SECONDS: '6', FUZZ_CONCURRENCY: '8' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
    const [code] = (await once(child, 'exit')) as [number | null];
    clearTimeout(timer);
    assert.equal(code, 0, output);
    assert.match(output, /verdict: PASS/);
    assert.match(output, /FUZZ_SEED=\d+/);
    for (const kind of ['handshake', 'frames', 'tunnel', 'disconnect', 'upstream', 'wsupstream']) assert.match(output, new RegExp(`^  ${kind} \\(\\d+ cases\\)`, 'm'), output);
    assert.match(output, /bridged WebSocket echo every 100 ms: \d+ round trips/);
    assert.match(output, /internal errors logged by the guard: 0/);
    // The server wrote what its collected heap held each time, which the verdict bounds.
    assert.match(output, /^server heap after each collection .*: start [\d.]+ \/ [\d.]+ \/ [\d.]+ MiB; half-way [\d.]+ .*; at the end [\d.]+ /m);
  });
});

describe('what the fuzzer found stays fixed', () => {
  let dir: ReturnType<typeof tempDir>;
  let targets: Targets;
  before(async () => {
    dir = tempDir('websocksy-fuzz-test-');
    targets = await startTargets(dir.path, `${dir.path}/websocksy.log`);
  });
  after(async () => {
    await targets.close();
    dir.remove();
  });

  test('an /api request reset by its client a few ms after it was sent does not crash the server', async () => {
    // Once: the upstream's body ended while uWS still held its last bytes, and the server
    // read the response's write offset after closing it (uWS throws): the process died.
    for (let i = 0; i < 300 && targets.server.exited === null; i++) {
      const connection = await RawConnection.connect(targets.port);
      connection.send(`${['GET', 'PATCH', 'DELETE'][i % 3] as string} ${PREFIX.api}/x HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: ${i % 2}\r\n\r\n${'x'.repeat(i % 2)}`);
      await new Promise((resolve) => setTimeout(resolve, i % 5));
      connection.cut('reset');
    }
    assert.equal(targets.server.exited, null, 'the server died');
    const connection = await RawConnection.connect(targets.port);
    connection.send(`GET ${PREFIX.api}/after HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n`);
    assert.ok(await connection.waitForHead(5000));
    assert.equal(connection.head?.status, 200);
    connection.cut('fin');
  });

  test('a chunked body never reaches the upstream as a request of its own, whatever the method', async () => {
    // Once: node:http wrote the body of a GET, DELETE or OPTIONS unframed when the client's was chunked.
    const smuggled = 'GET /smuggled HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n';
    for (const method of ['OPTIONS', 'GET', 'DELETE', 'HEAD', 'POST']) {
      const connection = await RawConnection.connect(targets.port);
      connection.send(`${method} ${PREFIX.api}/x HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: chunked\r\n\r\n${smuggled.length.toString(16)}\r\n${smuggled}\r\n0\r\n\r\n`);
      assert.ok(await connection.waitForHead(5000), method);
      assert.equal(connection.head?.status, 200, method);
      connection.cut('fin');
    }
    await new Promise((resolve) => setTimeout(resolve, 200));
    assert.deepEqual(targets.findings, []);
  });

  test('a subprotocol that is not a token gets 400 on every WebSocket path, not an internal error', async () => {
    // Once: the /chat relay offered it to its remote, and `ws` threw ("invalid subprotocol").
    for (const path of [`${PREFIX.chat}/x`, '/x', PREFIX.tunnel]) {
      const connection = await RawConnection.connect(targets.port);
      // Written as latin1: the bytes of "écho" in UTF-8.
      connection.send(render(upgradeDraft(path, new Random(3), 'ec\u00c3\u00a9ho, chat')));
      assert.ok(await connection.waitForHead(5000), path);
      assert.equal(connection.head?.status, 400, path);
      connection.cut('fin');
    }
    assert.doesNotMatch(targets.server.tail.join('\n'), /internal error/);
  });

  test('a tunnel hello whose resume is null is refused as malformed, not with a TypeError', async () => {
    const connection = await RawConnection.connect(targets.port);
    connection.send(render(upgradeDraft(PREFIX.tunnel, new Random(1), TUNNEL_SUBPROTOCOL)));
    assert.ok(await connection.waitForHead(5000));
    assert.equal(connection.head?.status, 101);
    const talk = new TunnelConversation(connection, new Random(2));
    talk.send(hello(targets.identity, { resume: null }));
    const answer = await talk.waitForControl(['welcome', 'refuse'], 5000);
    assert.equal(answer?.type, 'refuse');
    assert.equal(answer.message['reason'], 'malformed resume');
    connection.cut('fin');
  });
});
