/*
 * websocksy on its own JS engine (src/front/js-engine, docs/engine.md), forced with
 * WEBSOCKSY_ENGINE=js where the native build loads: the start line warns, and a representative
 * set works as on uWS — echo over tcp, an HTTP route, a request offering `Upgrade: h2c` (plain
 * HTTP, body and all, where node lets the engine say so), a refused upgrade, the 1013 close for
 * a peer that stops reading, and a client that stops reading (the peer is paused, nothing lost).
 * The whole suite can run on the JS engine the same way (WEBSOCKSY_ENGINE=js node --test ...).
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { closeClient, connect, sendWhileOpen } from './helpers/client.js';
import { rawRequest, upgradeRequest } from './helpers/http.js';
import { pushPattern, streamServer, tcpEcho, tempDir } from './helpers/peers.js';
import { startWebsocksy, type RunningWebsocksy } from './helpers/websocksy.js';

const JS = { WEBSOCKSY_ENGINE: 'js' };
/** Node 22.21 and 24.9 brought shouldUpgradeCallback (the JS engine's app.ts); websocksy runs on the Node running this test. */
const [MAJOR = 0, MINOR = 0] = process.versions.node.split('.').map(Number);
const NODE_CHOOSES_UPGRADES = MAJOR > 24 || (MAJOR === 24 && MINOR >= 9) || (MAJOR === 22 && MINOR >= 21);

describe('websocksy on its JS engine', () => {
  const dir = tempDir('websocksy-js-engine-');
  let echo: Awaited<ReturnType<typeof tcpEcho>>;
  const upstream = createServer((req, res) => {
    res.setHeader('Content-Type', 'text/plain');
    const body: Buffer[] = [];
    req.on('data', (chunk: Buffer) => body.push(chunk));
    req.on('end', () => res.end(`upstream saw ${req.method ?? ''} ${req.url ?? ''}${body.length === 0 ? '' : ` ${Buffer.concat(body).toString()}`}`));
  });
  let server: RunningWebsocksy;

  before(async () => {
    echo = await tcpEcho();
    upstream.listen(0, '127.0.0.1');
    await once(upstream, 'listening');
    const upstreamPort = (upstream.address() as AddressInfo).port;
    writeFileSync(`${dir.path}/js.cfg`, ['[core]', 'listen = 127.0.0.1', 'port = 0', '[backend]', `host = ${echo.address}`, '[route /api]', `to = http://127.0.0.1:${upstreamPort}/base`, ''].join('\n'));
    server = await startWebsocksy([`${dir.path}/js.cfg`], { env: JS });
  });

  after(async () => {
    await server.stop();
    await echo.close();
    upstream.close();
    dir.remove();
  });

  test('the start line names the JS engine and its cost', async () => {
    const line = await server.waitForLog(/engine JS fallback .*/);
    assert.match(line, /build=websocksy-js uws=emulated .*cost=/);
  });

  test('echo over tcp: text as text, binary as binary, a large message whole', async () => {
    const client = await connect(server.url);
    client.ws.send('hello');
    const text = await client.next();
    assert.deepEqual([text.data.toString(), text.binary], ['hello', false]);
    const large = randomBytes(256 * 1024);
    client.ws.send(large);
    const chunks: Buffer[] = [];
    let received = 0;
    while (received < large.length) {
      const { data, binary } = await client.next();
      assert.equal(binary, true);
      chunks.push(data);
      received += data.length;
    }
    assert.ok(Buffer.concat(chunks).equals(large));
    await closeClient(client);
  });

  test('an HTTP route reaches its upstream', async () => {
    const answer = await fetch(`http://127.0.0.1:${server.port}/api/x?y=1`);
    assert.equal(answer.status, 200);
    assert.equal(await answer.text(), 'upstream saw GET /base/x?y=1');
  });

  test('a request offering Upgrade: h2c is plain HTTP: its body goes upstream, or, where node cannot read it, a 400 says why', async () => {
    const request = (body: string, framing: string): string => `POST /api/h2c HTTP/1.1\r\nHost: x\r\nConnection: Upgrade, HTTP2-Settings, close\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAAQAoAAAAAIAAAAA\r\n${framing}\r\n\r\n${body}`;
    const sized = await rawRequest(server.port, request('hello', 'Content-Length: 5'));
    const chunked = await rawRequest(server.port, request('5\r\nhello\r\n0\r\n\r\n', 'Transfer-Encoding: chunked'));
    const get = await rawRequest(server.port, 'GET /api/h2c HTTP/1.1\r\nHost: x\r\nConnection: Upgrade, HTTP2-Settings, close\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAAQAoAAAAAIAAAAA\r\n\r\n');
    assert.deepEqual([get.status, get.body], [200, 'upstream saw GET /base/h2c']);
    if (NODE_CHOOSES_UPGRADES) {
      for (const answer of [sized, chunked]) assert.deepEqual([answer.status, answer.body], [200, 'upstream saw POST /base/h2c hello']);
    } else {
      for (const answer of [sized, chunked]) assert.deepEqual([answer.status, answer.body], [400, 'Bad request: send it again without its Upgrade header\n']);
      await server.waitForLog(/refused by the JS engine .*Upgrade \\"h2c\\" with a request body/);
    }
  });

  test('a refused upgrade gets its status and the connection closes', async () => {
    const answer = await rawRequest(server.port, upgradeRequest('/', [], { 'Sec-WebSocket-Version': '8' }));
    assert.equal(answer.status, 426);
    // A key that is not 24 characters long never reaches the WebSocket route (as in uWS): the front refuses it.
    const badKey = await rawRequest(server.port, upgradeRequest('/', [], { 'Sec-WebSocket-Key': 'c2hvcnQ=' }));
    assert.equal(badKey.status, 400);
    // A repeated key is read as uWS reads it, by its first value, and refused by the same check on every Node.
    const repeated = await rawRequest(server.port, upgradeRequest('/', ['Sec-WebSocket-Key: AAAAAAAAAAAAAAAAAAAAAA==']));
    assert.equal(repeated.status, 400);
    await server.waitForLog(/refused .*why="header sec-websocket-key appears more than once"/);
    const plain = await rawRequest(server.port, 'GET / HTTP/1.1\r\nHost: x\r\n\r\n');
    assert.equal(plain.status, 404, 'a port with routes answers 404 where no route claims the path');
  });
});

describe('backpressure on the JS engine', () => {
  test('a peer that stops reading is cut off with 1013', async () => {
    const peer = await streamServer((socket) => socket.pause());
    const server = await startWebsocksy(['-l', '127.0.0.1', '-p', '0', '-c', `host=${peer.address}`, '--peer-buffer', '1m', '--max-message', '1m'], { env: JS });
    try {
      const client = await connect(server.url);
      await sendWhileOpen(client, Buffer.alloc(512 * 1024, 1), 128);
      const { code, reason } = await client.closed(10_000);
      assert.equal(code, 1013);
      assert.match(reason, /peer is not reading/);
    } finally {
      await server.stop();
      await peer.close();
    }
  });

  test('a client that stops reading: the peer is paused, and every byte arrives in order once it reads again', async () => {
    const total = 48 * 1024 * 1024;
    const pattern = randomBytes(65_521);
    const peer = await streamServer((socket: Socket) => pushPattern(socket, pattern, total));
    const server = await startWebsocksy(['-l', '127.0.0.1', '-p', '0', '-c', `host=${peer.address}`, '-c', 'framing=binary', '-v'], { env: JS });
    try {
      const client = await connect(server.url);
      const raw = (client.ws as unknown as { _socket: Socket })._socket;
      raw.pause();
      await new Promise((resolve) => setTimeout(resolve, 1000));
      let received = 0;
      let mismatch: string | null = null;
      const done = new Promise<void>((resolve) => {
        client.onMessage((data) => {
          for (let offset = 0; offset < data.length && mismatch === null; offset++) {
            if (data[offset] !== pattern[(received + offset) % pattern.length]) mismatch = `byte ${received + offset} differs`;
          }
          received += data.length;
          if (received >= total || mismatch !== null) resolve();
        });
      });
      raw.resume();
      await done;
      assert.equal(mismatch, null);
      assert.equal(received, total);
      await closeClient(client);
    } finally {
      await server.stop();
      await peer.close();
    }
  });
});
