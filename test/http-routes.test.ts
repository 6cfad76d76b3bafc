/*
 * HTTP routes on the bridge's port, against real node:http and WebSocket upstreams: every
 * method, path and query mapping, headers (hop-by-hop, X-Forwarded-*, Host), status and
 * bodies passed through, 10 MB bodies each way, 200 requests at once, the 404/502/504
 * answers, the WebSocket-to-WebSocket route, and upgrades that no route claims still reaching
 * the bridge's backend. Static folders have their own test (static.test.ts).
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { writeFileSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';
import WebSocket, { WebSocketServer } from 'ws';
import { echoOf, patternHash, send, startUpstream, type Upstream } from './helpers/http-upstream.js';
import { rawRequest, upgradeRequest } from './helpers/http.js';
import { tcpEcho, tempDir } from './helpers/peers.js';
import { startWebsocksy, type RunningWebsocksy } from './helpers/websocksy.js';
import { freePort } from './helpers/instances.js';


describe('http routes', () => {
  const dir = tempDir('websocksy-routes-');
  let upstream: Upstream;
  let wsUpstream: WebSocketServer;
  let echo: Awaited<ReturnType<typeof tcpEcho>>;
  let proxy: RunningWebsocksy;

  before(async () => {
    upstream = await startUpstream();
    wsUpstream = new WebSocketServer({ host: '127.0.0.1', port: 0, handleProtocols: (protocols) => (protocols.has('chat') ? 'chat' : false) });
    await once(wsUpstream, 'listening');
    wsUpstream.on('connection', (socket, request) => {
      socket.send(`hello ${request.url ?? ''} xff=${String(request.headers['x-forwarded-for'])}`);
      socket.on('message', (data, binary) => {
        if (!binary && data.toString() === 'bye') socket.close(4001, 'asked to');
        // A close frame with no code at all.
        else if (!binary && data.toString() === 'bye, no code') socket.close();
        else socket.send(data, { binary });
      });
    });
    echo = await tcpEcho();
    const wsPort = (wsUpstream.address() as { port: number }).port;
    const dead = await freePort();
    const echoPort = Number(echo.address.split(':').at(-1));
    writeFileSync(
      `${dir.path}/routes.cfg`,
      [
        '[core]', 'listen = 127.0.0.1', 'port = 0',
        '[backend]', 'host = tcp://127.0.0.1', `port = ${echoPort}`,
        '[route /api]', `to = http://127.0.0.1:${upstream.port}/base`,
        '[route /api/v2/]', `to = http://127.0.0.1:${upstream.port}`, 'host = keep',
        '[route /slow]', `to = http://127.0.0.1:${upstream.port}/`, 'timeout = 0.3',
        '[route /dead]', `to = http://127.0.0.1:${dead}/`,
        '[route /ws]', `websocket = ws://127.0.0.1:${wsPort}/echo`,
        '[route /wsdead]', `websocket = ws://127.0.0.1:${dead}/`,
        '',
      ].join('\n'),
    );
    proxy = await startWebsocksy([`${dir.path}/routes.cfg`]);
  });

  after(async () => {
    await proxy.stop();
    await upstream.close();
    await echo.close();
    wsUpstream.close();
    dir.remove();
  });

  test('every method reaches the upstream with its path under the base, query and body', async () => {
    for (const method of ['GET', 'POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS']) {
      const body = method === 'GET' ? undefined : `body of ${method}`;
      const reply = await send(proxy.port, '/api/items/7?x=1&y=%20z', { method, ...(body === undefined ? {} : { body }) });
      assert.equal(reply.status, 200, method);
      const seen = echoOf(reply);
      assert.equal(seen.method, method);
      assert.equal(seen.url, '/base/items/7?x=1&y=%20z');
      assert.equal(seen.bytes, body === undefined ? 0 : Buffer.byteLength(body));
    }
    const head = await send(proxy.port, '/api/x', { method: 'HEAD' });
    assert.equal(head.status, 200);
    assert.equal(head.bytes, 0);
    assert.equal(head.headers['x-upstream'], 'echo');
    assert.equal(echoOf(await send(proxy.port, '/api')).url, '/base');
  });

  test('prefixes match whole segments and the longest wins', async () => {
    assert.equal((await send(proxy.port, '/apix')).status, 404);
    assert.equal(echoOf(await send(proxy.port, '/api/v2/z?q')).url, '/z?q');
    assert.equal(echoOf(await send(proxy.port, '/api/v2x')).url, '/base/v2x');
  });

  test('headers: hop-by-hop dropped, X-Forwarded-* added, Host rewritten or kept; response headers pass', async () => {
    const reply = await send(proxy.port, '/api/h', {
      headers: { Connection: 'keep-alive, X-Drop-Me', 'X-Drop-Me': '1', 'Keep-Alive': 'timeout=5', 'X-Keep': 'yes', 'X-Forwarded-For': '203.0.113.9', TE: 'trailers' },
    });
    const { headers } = echoOf(reply);
    assert.equal(headers['x-drop-me'], undefined);
    assert.equal(headers['keep-alive'], undefined);
    assert.equal(headers['te'], undefined);
    assert.equal(headers['x-keep'], 'yes');
    assert.equal(headers['x-forwarded-for'], '203.0.113.9, 127.0.0.1');
    assert.equal(headers['x-forwarded-proto'], 'http');
    assert.equal(headers['x-forwarded-host'], `127.0.0.1:${proxy.port}`);
    assert.equal(headers['host'], `127.0.0.1:${upstream.port}`);
    assert.deepEqual(reply.headers['set-cookie'], ['a=1', 'b=2']);
    assert.equal(reply.headers['content-type'], 'application/json');
    assert.equal(echoOf(await send(proxy.port, '/api/v2/h')).headers['host'], `127.0.0.1:${proxy.port}`);
  });

  test('upstream status codes and bodies pass through unchanged', async () => {
    const teapot = await send(proxy.port, '/api/status?code=418');
    assert.equal(teapot.status, 418);
    assert.equal(teapot.text, 'status 418\n');
    assert.equal(teapot.headers['x-custom'], 'kept');
    const missing = await send(proxy.port, '/api/status?code=404');
    assert.equal(missing.status, 404);
    assert.equal(missing.text, 'status 404\n');
    const empty = await send(proxy.port, '/api/status?code=204');
    assert.equal(empty.status, 204);
    assert.equal(empty.bytes, 0);
  });

  test('10 MB bodies each way, content-length and chunked, checksummed', async () => {
    const size = 10 * 1024 * 1024;
    const down = await send(proxy.port, `/api/download?bytes=${size}`);
    assert.equal(down.headers['content-length'], String(size));
    assert.deepEqual([down.bytes, down.sha256], [size, patternHash(size)]);
    const chunked = await send(proxy.port, `/api/download?bytes=${size}&chunked`);
    assert.equal(chunked.headers['transfer-encoding'], 'chunked');
    assert.deepEqual([chunked.bytes, chunked.sha256], [size, patternHash(size)]);
    for (const isChunked of [false, true]) {
      const up = echoOf(await send(proxy.port, '/api/upload', { method: 'POST', body: size, chunked: isChunked }));
      assert.deepEqual([up.bytes, up.sha256], [size, patternHash(size)]);
    }
  });

  test('200 concurrent requests', async () => {
    const replies = await Promise.all(Array.from({ length: 200 }, (_, i) => send(proxy.port, `/api/c/${i}`, { method: 'POST', body: `n${i}` })));
    replies.forEach((reply, i) => {
      assert.equal(reply.status, 200);
      assert.equal(echoOf(reply).url, `/base/c/${i}`);
    });
  });

  test('failures: 404 no route, 502 unreachable, 504 slow; short bodies that reveal nothing', async () => {
    const none = await send(proxy.port, '/nowhere');
    assert.deepEqual([none.status, none.text], [404, 'Not found\n']);
    const dead = await send(proxy.port, '/dead/x');
    assert.deepEqual([dead.status, dead.text], [502, 'Bad gateway\n']);
    const slow = await send(proxy.port, '/slow/stall');
    assert.deepEqual([slow.status, slow.text], [504, 'Gateway timeout\n']);
    await proxy.waitForLog(/http upstream failed .*route=\/dead .*status=502 why=".*ECONNREFUSED/);
    await proxy.waitForLog(/http upstream failed .*route=\/slow .*status=504/);
  });

  test('websocket route: messages both ways, subprotocol, close code (or none); unreachable is a 502', async () => {
    const client = new WebSocket(`ws://127.0.0.1:${proxy.port}/ws/room?id=3`, ['chat']);
    const messages: Array<{ data: string; binary: boolean }> = [];
    client.on('message', (data: Buffer, binary) => messages.push({ data: data.toString(), binary }));
    await once(client, 'open');
    assert.equal(client.protocol, 'chat');
    client.send('text');
    client.send(Buffer.from('binary'));
    client.send('bye');
    const [code, reason] = (await once(client, 'close')) as [number, Buffer];
    assert.deepEqual([code, reason.toString()], [4001, 'asked to']);
    assert.deepEqual(messages, [
      { data: 'hello /echo/room?id=3 xff=127.0.0.1', binary: false },
      { data: 'text', binary: false },
      { data: 'binary', binary: true },
    ]);
    const quiet = new WebSocket(`ws://127.0.0.1:${proxy.port}/ws/quiet`, ['chat']);
    await once(quiet, 'open');
    quiet.send('bye, no code');
    const [quietCode, quietReason] = (await once(quiet, 'close')) as [number, Buffer];
    assert.deepEqual([quietCode, quietReason.toString()], [1005, ''], 'the upstream\'s close frame without a code reaches the client as one');
    const refused = await rawRequest(proxy.port, upgradeRequest('/wsdead/x'));
    assert.equal(refused.status, 502);
    assert.equal((await send(proxy.port, '/ws/plain')).status, 426);
  });

  test('upgrades that no websocket route claims still go to the bridge', async () => {
    for (const path of ['/elsewhere', '/api/also-bridge']) {
      const client = new WebSocket(`ws://127.0.0.1:${proxy.port}${path}`);
      await once(client, 'open');
      client.send('through the bridge');
      const [data] = (await once(client, 'message')) as [Buffer];
      assert.equal(data.toString(), 'through the bridge');
      client.close();
      await once(client, 'close');
    }
  });
});
