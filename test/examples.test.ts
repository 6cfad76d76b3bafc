/*
 * The shipped examples, run as a new user runs them: from another working directory than the
 * repository's, so that every relative path in them has to start from the config file's folder
 * (examples/routes, examples/tunnel-server.cfg, examples/west, examples/streamprox); and the
 * plugin examples of docs/plugins.md, cut out of the page as written and loaded from a plugin
 * folder.
 */
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { once } from 'node:events';
import { copyFileSync, cpSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';
import { closeClient, connect } from './helpers/client.js';
import { documented } from './helpers/docs.js';
import { freePort } from './helpers/instances.js';
import { tcpEcho, tempDir, type Peer } from './helpers/peers.js';
import { ROOT, startWebsocksy } from './helpers/websocksy.js';

const LOCAL = ['-l', '127.0.0.1', '-p', '0', '-k', '0'];
const EXAMPLES = `${ROOT}examples`;

/** A working directory that holds none of the examples' files. */
const elsewhere = tempDir('websocksy-elsewhere-');
after(() => elsewhere.remove());

describe('the example configs start from any working directory', () => {
  // examples/tunnel-client.cfg is left out: it names no file, and its -L forward takes the fixed port 2222.
  const configs = [
    ...readdirSync(`${EXAMPLES}/routes`).filter((name) => name.endsWith('.cfg')).map((name) => `${EXAMPLES}/routes/${name}`),
    `${EXAMPLES}/tunnel-server.cfg`,
    `${ROOT}websocksy.cfg`,
  ];

  test("every config in examples/routes, examples/tunnel-server.cfg and make run's websocksy.cfg", async () => {
    assert.ok(configs.length >= 11, configs.join(' '));
    for (const config of configs) {
      const instance = await startWebsocksy([config, ...LOCAL], { cwd: elsewhere.path, env: { WEBSOCKSY_STATUS_TOKEN: 'example-status-token' } });
      await instance.stop();
    }
  });

  test('direct.cfg serves its www folder, next to the config file, to its example user', async () => {
    const instance = await startWebsocksy([`${EXAMPLES}/routes/direct.cfg`, ...LOCAL], { cwd: elsewhere.path });
    try {
      // Its routes ask for the example user (examples/routes/users-example).
      assert.equal((await fetch(`http://127.0.0.1:${instance.port}/index.html`)).status, 401);
      const answer = await fetch(`http://127.0.0.1:${instance.port}/index.html`, { headers: { Authorization: `Basic ${Buffer.from('visitor:change-me-example').toString('base64')}` } });
      assert.equal(answer.status, 200);
      assert.equal(await answer.text(), readFileSync(`${EXAMPLES}/routes/www/index.html`, 'utf8'));
    } finally {
      await instance.stop();
    }
  });

  test('the west JSON configs, with their ports made free, find ../routes/identities-G', async () => {
    // Their listeners have fixed ports (9701, 9801, 18889...): each becomes a free one, in a copy
    // of examples/ that keeps the layout, so "../routes/identities-G" still means the same file.
    const copy = tempDir('websocksy-west-examples-');
    try {
      mkdirSync(`${copy.path}/west`);
      mkdirSync(`${copy.path}/routes`);
      copyFileSync(`${EXAMPLES}/routes/identities-G`, `${copy.path}/routes/identities-G`);
      const ports = new Map<string, number>();
      const names = readdirSync(`${EXAMPLES}/west`).filter((name) => name.endsWith('.json'));
      assert.ok(names.length >= 4, names.join(' '));
      for (const name of names) {
        let text = readFileSync(`${EXAMPLES}/west/${name}`, 'utf8');
        for (const [, port] of text.matchAll(/:(\d{4,5})\b/g)) if (!ports.has(port as string)) ports.set(port as string, await freePort());
        text = text.replace(/:(\d{4,5})\b/g, (_, port: string) => `:${ports.get(port) as number}`);
        writeFileSync(`${copy.path}/west/${name}`, text);
        const instance = await startWebsocksy([`${copy.path}/west/${name}`], { cwd: elsewhere.path });
        await instance.stop();
      }
    } finally {
      copy.remove();
    }
  });
});

describe('examples/streamprox: a chat module, a static site and a proxied path on one port', () => {
  test('the page, the chat over HTTP and WebSocket, and /api through the reverse proxy', async () => {
    // Its ports are fixed (8090, and 8091 for upstream.mjs): a copy gets free ones.
    const copy = tempDir('websocksy-streamprox-');
    const upstreamPort = await freePort();
    const upstream = spawn(process.execPath, [`${EXAMPLES}/streamprox/upstream.mjs`, String(upstreamPort)], { stdio: ['ignore', 'pipe', 'inherit'] });
    try {
      await once(upstream.stdout, 'data');
      cpSync(`${EXAMPLES}/streamprox`, copy.path, { recursive: true });
      const config = `${copy.path}/streamprox.cfg`;
      const text = readFileSync(config, 'utf8');
      assert.ok(text.includes('port = 8090') && text.includes('127.0.0.1:8091'), 'the ports this test replaces');
      writeFileSync(config, text.replace('port = 8090', 'port = 0').replaceAll('127.0.0.1:8091', `127.0.0.1:${upstreamPort}`));
      const server = await startWebsocksy([config], { cwd: elsewhere.path });
      const http = `http://127.0.0.1:${server.port}`;
      try {
        assert.equal(await (await fetch(`${http}/`)).text(), readFileSync(`${EXAMPLES}/streamprox/www/index.html`, 'utf8'));
        assert.deepEqual(await (await fetch(`${http}/api/hello?x=1`)).json(), { servedBy: 'upstream', method: 'GET', url: '/hello?x=1', forwardedFor: '127.0.0.1' });

        const first = await connect(`${server.url}/chat/ws`, ['chat']);
        assert.equal(first.ws.protocol, 'chat');
        assert.deepEqual(JSON.parse((await first.next()).data.toString()), { history: [] });
        const posted = await fetch(`${http}/chat/messages`, { method: 'POST', body: JSON.stringify({ from: 'fetch', text: 'hello' }) });
        assert.equal(posted.status, 201);
        const hello = (await posted.json()) as { id: number; from: string; text: string };
        assert.deepEqual([hello.id, hello.from, hello.text], [1, 'fetch', 'hello']);
        assert.deepEqual(JSON.parse((await first.next()).data.toString()), { message: hello });

        const second = await connect(`${server.url}/chat/ws`);
        assert.equal(second.ws.protocol, '');
        assert.deepEqual(JSON.parse((await second.next()).data.toString()), { history: [hello] });
        second.ws.send(JSON.stringify({ from: 'ws', text: 'hi all' }));
        const heard = await Promise.all([first, second].map(async (client) => (JSON.parse((await client.next()).data.toString()) as { message: { id: number; text: string } }).message));
        for (const message of heard) assert.deepEqual([message.id, message.text], [2, 'hi all']);
        assert.deepEqual(await (await fetch(`${http}/chat/messages?after=1`)).json(), [heard[0]]);

        assert.equal((await fetch(`${http}/chat/messages`, { method: 'POST', body: '{"text": 1}' })).status, 400);
        assert.equal((await fetch(`${http}/chat/messages`, { method: 'POST', body: 'x'.repeat(20_000) })).status, 413);
        assert.equal((await fetch(`${http}/chat/messages`, { method: 'DELETE' })).status, 405);
        assert.equal((await fetch(`${http}/chat/elsewhere`)).status, 404);
        await assert.rejects(connect(`${server.url}/chat/elsewhere`), /HTTP 404/);
        await closeClient(first);
        await closeClient(second);
      } finally {
        await server.stop();
      }
    } finally {
      upstream.kill();
      copy.remove();
    }
  });
});

describe('the plugin examples in docs/plugins.md run as written', () => {
  const folder = tempDir('websocksy-documented-plugins-');
  let echo: Peer;
  before(async () => {
    echo = await tcpEcho();
    writeFileSync(`${folder.path}/backend_mine.mjs`, documented('### Backends: `backend_NAME.mjs`', 'js'));
    writeFileSync(`${folder.path}/framing_length16.mjs`, documented('### Framing functions: `framing_NAME.mjs`', 'js'));
    writeFileSync(`${folder.path}/pairs.c`, documented('### Framing functions', 'c'));
    execFileSync('cc', ['-shared', '-fPIC', '-O2', '-Wall', '-Wextra', '-Werror', `-I${ROOT}plugins`, '-o', `${folder.path}/framing_pairs.so`, `${folder.path}/pairs.c`]);
  });
  after(async () => {
    await echo.close();
    folder.remove();
  });

  test('the JS backend answers clients that offer no subprotocol, and the first one offered', async () => {
    const server = await startWebsocksy([...LOCAL, '--allow-peers', 'tcp:127.0.0.1:*', '-P', folder.path, '-b', 'mine', '-c', `peer=${echo.address}`]);
    try {
      const plain = await connect(`${server.url}/plain`);
      assert.equal(plain.ws.protocol, '');
      plain.ws.send('one line\n');
      assert.equal((await plain.next()).data.toString(), 'one line\n');
      await closeClient(plain);
      const chat = await connect(`${server.url}/chat`, ['chat', 'other']);
      assert.equal(chat.ws.protocol, 'chat');
      await closeClient(chat);
      assert.doesNotMatch(server.log(), /refused/);
    } finally {
      await server.stop();
    }
  });

  test('the JS framing function (length16) and the C one (pairs) frame an echoed stream', async () => {
    for (const [framing, sent, expected] of [
      ['length16', [0, 1, 0x78, 0, 2, 0x79, 0x7a], ['000178', '0002797a']],
      ['pairs', [1, 2, 3, 4], ['0102', '0304']],
    ] as const) {
      const server = await startWebsocksy([...LOCAL, '-P', folder.path, '-c', `host=${echo.address}`, '-c', `framing=${framing}`]);
      try {
        const client = await connect(`${server.url}/`);
        client.ws.send(Buffer.from(sent));
        const received: string[] = [];
        while (received.length < expected.length) {
          const message = await client.next();
          assert.ok(message.binary, framing);
          received.push(message.data.toString('hex'));
        }
        assert.deepEqual(received, expected, framing);
        await closeClient(client);
      } finally {
        await server.stop();
      }
    }
  });
});

describe('the route module example in docs/routes.md runs as written', () => {
  const folder = tempDir('websocksy-documented-route-');
  after(() => folder.remove());

  test('it greets with module-config, counts an upload, streams /count, and runs a room', async () => {
    writeFileSync(`${folder.path}/route_hello.mjs`, documented('### A complete example', 'js', 'docs/routes.md'));
    writeFileSync(`${folder.path}/hello.cfg`, ['[core]', 'listen = 127.0.0.1', 'port = 0', '[route /hello]', 'module = route_hello.mjs', 'module-config = Hi', ''].join('\n'));
    const server = await startWebsocksy([`${folder.path}/hello.cfg`], { cwd: elsewhere.path });
    const http = `http://127.0.0.1:${server.port}/hello`;
    try {
      assert.equal(await (await fetch(`${http}/x`)).text(), 'Hi, 127.0.0.1: GET /x\n');
      const upload = await fetch(http, { method: 'POST', body: Buffer.alloc(500_000) });
      assert.equal(upload.status, 201);
      assert.deepEqual(await upload.json(), { bytes: 500_000 });
      const lines = (await (await fetch(`${http}/count`)).text()).trimEnd().split('\n');
      assert.deepEqual([lines.length, lines[0], lines.at(-1)], [100000, '1', '100000']);
      const first = await connect(`${server.url}/hello`, ['room']);
      assert.equal(first.ws.protocol, 'room');
      assert.equal((await first.next()).data.toString(), 'Hi! 1 here.');
      const second = await connect(`${server.url}/hello`);
      assert.equal((await second.next()).data.toString(), 'Hi! 2 here.');
      second.ws.send('anyone?');
      for (const client of [first, second]) assert.equal((await client.next()).data.toString(), 'anyone?');
      await closeClient(first);
      await closeClient(second);
    } finally {
      await server.stop();
    }
  });
});
