/*
 * Fault isolation: a plugin that answers garbage costs only its own connection, with a clear
 * code and log line, while a live connection beside it keeps working; a plugin that cannot be
 * used stops websocksy at start-up with a message naming the file and the reason. The faulty C
 * plugins are built from test/plugins/*.c.
 */
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { closeClient, connect, type TestClient } from './helpers/client.js';
import { rawRequest, upgradeRequest } from './helpers/http.js';
import { tcpEcho, tempDir, type Peer } from './helpers/peers.js';
import { pluginFolder, testPlugin } from './helpers/plugins.js';
import { runWebsocksy, startWebsocksy, type RunningWebsocksy } from './helpers/websocksy.js';

/** The plugins here answer with local peers: allow-peers lets them through (docs/allow-lists.md). */
const LOCAL = ['-l', '127.0.0.1', '-p', '0', '-k', '0', '--allow-peers', 'tcp:127.0.0.1:*'];

async function assertEchoes(client: TestClient, text: string): Promise<void> {
  client.ws.send(text);
  assert.equal((await client.next()).data.toString(), text, 'the live connection still works');
}

/** Runs `fault` beside a live connection, which must work before and after it. */
async function besideLiveConnection(server: RunningWebsocksy, fault: () => Promise<void>): Promise<void> {
  const live = await connect(`${server.url}/ok`);
  try {
    await assertEchoes(live, 'before');
    await fault();
    await assertEchoes(live, 'after');
  } finally {
    await closeClient(live);
  }
}

async function assertRefused(server: RunningWebsocksy, path: string, status: number, log: RegExp): Promise<void> {
  const answer = await rawRequest(server.port, upgradeRequest(path));
  assert.equal(answer.status, status, path);
  await server.waitForLog(log);
}

/** A client whose peer data the framing function cannot frame: closed with 1011. */
async function assertFramingClose(server: RunningWebsocksy, path: string, log: RegExp): Promise<void> {
  const client = await connect(`${server.url}${path}`);
  client.ws.send('x');
  const { code, reason } = await client.closed();
  assert.equal(code, 1011, `${path}: ${reason}`);
  await server.waitForLog(log);
}

describe('a C backend answering garbage', () => {
  let echo: Peer;
  let folder: { path: string; remove(): void };
  let server: RunningWebsocksy;
  before(async () => {
    echo = await tcpEcho();
    folder = pluginFolder([testPlugin('backend_faults.so')]);
    server = await startWebsocksy([...LOCAL, '-P', folder.path, '-b', 'faults', '-c', `peer=${echo.address}`]);
  });
  after(async () => {
    await server.stop();
    await echo.close();
    folder.remove();
  });

  test('no host: that upgrade is refused (404, the ABI\'s "no peer")', () =>
    besideLiveConnection(server, () => assertRefused(server, '/no-host', 404, /refused .*endpoint=\/no-host .*status="404 Not Found" why="backend found no peer"/)));

  test('an unknown transport: that upgrade is refused with 502', () =>
    besideLiveConnection(server, () =>
      assertRefused(server, '/bad-transport', 502, /refused .*endpoint=\/bad-transport .*status="502 Bad Gateway" why="backend \\"faults\\" answered unknown transport 42"/),
    ));

  test('a framing length larger than the data: that connection closes with 1011', () =>
    besideLiveConnection(server, () =>
      assertFramingClose(server, '/too-long', /close .*endpoint=\/too-long .*code=1011 reason="framing \\"faults@0x[0-9a-f]+\\" returned 2 with 1 bytes available"/),
    ));

  test('a negative framing length: that connection closes with 1011', () =>
    besideLiveConnection(server, () =>
      assertFramingClose(server, '/negative', /close .*endpoint=\/negative .*code=1011 reason="framing \\"faults@0x[0-9a-f]+\\" returned -1 with 1 bytes available"/),
    ));
});

describe('a JS backend and framing function answering garbage', () => {
  let echo: Peer;
  let folder: { path: string; remove(): void };
  let server: RunningWebsocksy;
  before(async () => {
    echo = await tcpEcho();
    folder = pluginFolder([], {
      'backend_jsfaults.mjs': `export default () => {
        let peer = '';
        const answers = {
          '/no-host': () => ({ port: '1' }),
          '/bad-transport': () => ({ host: 'fifo:///tmp/x' }),
          '/too-long': () => ({ host: peer, framing: 'too-long' }),
          '/negative': () => ({ host: peer, framing: 'negative' }),
        };
        return {
          name: 'jsfaults',
          configure(key, value) { peer = value; },
          query: async (request) => (answers[request.endpoint] ?? (() => ({ host: peer })))(),
        };
      };`,
      'framing_jsfaults.mjs': `export default [
        { name: 'too-long', frame: (data) => (data === null ? 0 : data.length + 1) },
        { name: 'negative', frame: () => -1 },
      ];`,
    });
    server = await startWebsocksy([...LOCAL, '-P', folder.path, '-b', 'jsfaults', '-c', `peer=${echo.address}`]);
  });
  after(async () => {
    await server.stop();
    await echo.close();
    folder.remove();
  });

  test('no host: that upgrade is refused with 502', () =>
    besideLiveConnection(server, () => assertRefused(server, '/no-host', 502, /refused .*endpoint=\/no-host .*why="backend \\"jsfaults\\" answered without a host"/)));

  test('an unknown transport: that upgrade is refused with 502', () =>
    besideLiveConnection(server, () => assertRefused(server, '/bad-transport', 502, /refused .*endpoint=\/bad-transport .*why=.*unsupported scheme \\"fifo:\/\/\\"/)));

  test('a framing length larger than the data, or negative: that connection closes with 1011', () =>
    besideLiveConnection(server, async () => {
      await assertFramingClose(server, '/too-long', /close .*endpoint=\/too-long .*code=1011 reason="framing \\"too-long\\" returned 2 with 1 bytes available"/);
      await assertFramingClose(server, '/negative', /close .*endpoint=\/negative .*code=1011 reason="framing \\"negative\\" returned -1 with 1 bytes available"/);
    }));
});

describe('a plugin that cannot be used stops websocksy at start-up, naming the file', () => {
  const scratch = tempDir();
  after(() => scratch.remove());

  async function assertStartupError(files: readonly string[], scripts: Readonly<Record<string, string>>, args: readonly string[], message: RegExp): Promise<void> {
    const folder = pluginFolder(files, scripts);
    try {
      const { code, stderr } = await runWebsocksy([...LOCAL, '-P', folder.path, ...args]);
      assert.equal(code, 1, stderr);
      assert.match(stderr, message);
      assert.doesNotMatch(stderr, /listening/);
    } finally {
      folder.remove();
    }
  }

  test('a .so that fails to load (unresolved symbol), with the loader\'s message', () =>
    assertStartupError([testPlugin('framing_unresolved.so')], {}, [], /plugin \S+framing_unresolved\.so: cannot load: .*undefined symbol: websocksy_test_missing_symbol/));

  test('a .so that is no shared library', () => {
    const garbage = join(scratch.path, 'framing_garbage.so');
    writeFileSync(garbage, 'not a shared library\n');
    return assertStartupError([garbage], {}, [], /plugin \S+framing_garbage\.so: cannot load: .*(?:invalid ELF header|file too short)/);
  });

  test('a backend without the required query symbol', () =>
    assertStartupError([testPlugin('backend_noquery.so')], {}, ['-b', 'noquery'], /backend "noquery": plugin \S+backend_noquery\.so: lacks the required symbol "query"/));

  test('a backend whose init reports another API version', () =>
    assertStartupError(
      [testPlugin('backend_version2.so')],
      {},
      ['-b', 'version2'],
      /backend "version2": plugin \S+backend_version2\.so: init\(\) reports API version 2, but this websocksy speaks version 1/,
    ));

  test('JS modules of the wrong shape, or that throw', async () => {
    await assertStartupError([], { 'framing_shapeless.mjs': 'export default { name: "x" };' }, [], /plugin \S+framing_shapeless\.mjs: the default export must be a framing definition/);
    await assertStartupError([], { 'framing_throws.mjs': 'throw new Error("boom");' }, [], /plugin \S+framing_throws\.mjs: cannot load: boom/);
    await assertStartupError([], { 'backend_nofactory.mjs': 'export default 42;' }, ['-b', 'nofactory'], /plugin \S+backend_nofactory\.mjs: the default export must be a backend factory/);
    await assertStartupError([], { 'backend_noquery.mjs': 'export default () => ({ name: "noquery" });' }, ['-b', 'noquery'], /plugin \S+backend_noquery\.mjs: the backend its factory returned has no query function/);
  });

  test('an explicit plugin folder that does not exist', async () => {
    const { code, stderr } = await runWebsocksy([...LOCAL, '-P', join(scratch.path, 'missing')]);
    assert.equal(code, 1, stderr);
    assert.match(stderr, /plugin \S+missing: cannot read the plugin folder: ENOENT/);
  });

  test('a backend name that is no file name', async () => {
    const { code, stderr } = await runWebsocksy([...LOCAL, '-b', '../etc/x']);
    assert.equal(code, 1, stderr);
    assert.match(stderr, /"\.\.\/etc\/x" is not a backend name/);
  });
});
