/*
 * Regression tests for the findings of issue 10 on HTTP and WebSocket routes, each reproduced
 * against a real websocksy and real upstreams: request smuggling with two Content-Lengths, a
 * timeout that counted the upload, the client's path choosing the upstream host or escaping
 * the route's base path, a bare `?` lost, header bytes that crashed node:http or `ws`,
 * X-Forwarded-Proto and Forwarded, non-ASCII header values, and the WebSocket relay dropping
 * messages to a slow client; and requests offering `Upgrade: h2c` (curl --http2), once refused as
 * broken WebSocket handshakes.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import { connect as netConnect } from 'node:net';
import { after, before, describe, test } from 'node:test';
import WebSocket, { WebSocketServer } from 'ws';
import { socketUnder } from './helpers/client.js';
import { curl, SKIP_WITHOUT_CURL } from './helpers/curl.js';
import { echoOf, send, startUpstream, type EchoBody, type Upstream } from './helpers/http-upstream.js';
import { rawRequest, upgradeRequest } from './helpers/http.js';
import { tempDir } from './helpers/peers.js';
import { startWebsocksy, type RunningWebsocksy } from './helpers/websocksy.js';


interface Seen {
  readonly method: string;
  readonly url: string;
  readonly rawHeaders: string[];
}

/** An upstream that records every request it gets and answers after the whole body, plus a header with a latin1 byte. */
async function recordingUpstream(): Promise<{ server: Server; port: number; seen: Seen[] }> {
  const seen: Seen[] = [];
  const server = createServer((req: IncomingMessage, res) => {
    seen.push({ method: req.method ?? '', url: req.url ?? '', rawHeaders: req.rawHeaders });
    req.resume();
    req.on('end', () => {
      res.setHeader('X-Latin1', Buffer.from([0x63, 0x61, 0x66, 0xe9]).toString('latin1'));
      res.end(`got ${req.url ?? ''}`);
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return { server, port: (server.address() as { port: number }).port, seen };
}

describe('http and websocket routes at the edge', () => {
  const dir = tempDir('websocksy-hardening-');
  let upstream: Upstream;
  let recorder: Awaited<ReturnType<typeof recordingUpstream>>;
  let wsUpstream: WebSocketServer;
  const wsPaths: string[] = [];
  let proxy: RunningWebsocksy;
  let trusting: RunningWebsocksy;

  before(async () => {
    upstream = await startUpstream();
    recorder = await recordingUpstream();
    wsUpstream = new WebSocketServer({ host: '127.0.0.1', port: 0 });
    await once(wsUpstream, 'listening');
    wsUpstream.on('connection', (socket, request) => {
      wsPaths.push(request.url ?? '');
      socket.on('message', (data, binary) => {
        const text = data.toString();
        if (!binary && text.startsWith('flood ')) {
          const [count, size] = text.slice(6).split(' ').map(Number) as [number, number];
          for (let i = 0; i < count; i++) socket.send(Buffer.alloc(size, i & 0xff));
        } else socket.send(data, { binary });
      });
    });
    const wsPort = (wsUpstream.address() as { port: number }).port;
    const routes = [
      `[route /api]\nto = http://127.0.0.1:${upstream.port}/base\n`,
      `[route /rec]\nto = http://127.0.0.1:${recorder.port}/v1\ntimeout = 1\n`,
      `[route /chat]\nwebsocket = ws://127.0.0.1:${wsPort}\n`,
    ].join('');
    writeFileSync(`${dir.path}/edge.cfg`, `[core]\nlisten = 127.0.0.1\nport = 0\n${routes}`);
    writeFileSync(`${dir.path}/trusting.cfg`, `[core]\nlisten = 127.0.0.1\nport = 0\ntrusted-proxies = 127.0.0.1, ::1\n${routes}`);
    proxy = await startWebsocksy([`${dir.path}/edge.cfg`]);
    trusting = await startWebsocksy([`${dir.path}/trusting.cfg`]);
  });

  after(async () => {
    await proxy.stop();
    await trusting.stop();
    await upstream.close();
    recorder.server.closeAllConnections();
    recorder.server.close();
    wsUpstream.close();
    dir.remove();
  });

  const urlsSeen = (): string[] => recorder.seen.map((request) => request.url);

  test('two different Content-Lengths are refused: the upstream never sees a request websocksy did not', async () => {
    // The upstream reads the last Content-Length, uWS the first: before the fix the second request
    // hid in the first one's body and reached the upstream without websocksy ever seeing it.
    const before = recorder.seen.length;
    const hidden = 'GET /rec/admin/secret HTTP/1.1\r\nHost: x\r\n\r\n';
    const answer = await rawRequest(
      proxy.port,
      `POST /rec/form HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nContent-Length: ${5 + hidden.length}\r\n\r\nhello${hidden}`,
      1000,
    ).catch((error: Error) => ({ status: Number(/^"HTTP\/1\.1 (\d+)/.exec(error.message.replace(/^[^"]*/, ''))?.[1]) }));
    assert.equal(answer.status, 400);
    await proxy.waitForLog(/refused .*two different Content-Length headers/);
    await new Promise((resolve) => setTimeout(resolve, 100));
    const seen = recorder.seen.slice(before);
    assert.ok(!seen.some((request) => request.url === '/v1/form'), 'the ambiguous request was not forwarded');
    // uWS 20.30 parses the bytes after the refused request as the next request (docs/engine.md):
    // if it gets there, it came through websocksy's own front like any request, with its headers.
    for (const request of seen) assert.ok(request.rawHeaders.some((name) => name.toLowerCase() === 'forwarded'), `${request.url} went through websocksy`);
  });

  test('Transfer-Encoding beside Content-Length never reaches a handler; an unknown transfer coding gets 501', async () => {
    const before = recorder.seen.length;
    // uWS closes such a request itself, without an answer (docs/engine.md).
    const both = await rawRequest(proxy.port, 'POST /rec/x HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n0\r\n\r\n');
    assert.ok(Number.isNaN(both.status) || both.status === 400, `status ${both.status}`);
    const gzip = await rawRequest(proxy.port, 'POST /rec/x HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n');
    assert.equal(gzip.status, 501);
    assert.deepEqual(recorder.seen.slice(before), []);
  });

  test('a repeated identical Content-Length goes upstream once', async () => {
    const answer = await rawRequest(proxy.port, 'POST /rec/same HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nContent-Length: 2\r\nConnection: close\r\n\r\nhi');
    assert.equal(answer.status, 200);
    const seen = recorder.seen.find((request) => request.url === '/v1/same');
    assert.ok(seen !== undefined);
    assert.equal(seen.rawHeaders.filter((name, i) => i % 2 === 0 && name.toLowerCase() === 'content-length').length, 1);
  });

  test('the timeout counts from the end of the upload, not its start', async () => {
    // timeout = 1 on /rec; the upload takes 2.5 s, the upstream answers as soon as it has it all.
    const socket = netConnect(proxy.port, '127.0.0.1');
    await once(socket, 'connect');
    let answer = '';
    socket.on('data', (chunk: Buffer) => (answer += chunk.toString('latin1')));
    socket.write('POST /rec/slow-upload HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nConnection: close\r\n\r\n');
    for (const piece of ['a', 'b', 'c', 'd', 'e']) {
      await new Promise((resolve) => setTimeout(resolve, 500));
      socket.write(piece);
    }
    await once(socket, 'close');
    assert.match(answer, /^HTTP\/1\.1 200 /);
  });

  test("an Upgrade to anything but websocket (curl --http2's h2c) is ignored: the request goes upstream whole, as plain HTTP", { skip: SKIP_WITHOUT_CURL }, async () => {
    // Before, any Upgrade header sent a request to the WebSocket handshake checks: 426 for a GET, 405 for a POST.
    const url = `http://127.0.0.1:${proxy.port}/api/echo`;
    // Asynchronous: the upstream runs in this process.
    const run = async (args: readonly string[]): Promise<string> => {
      const { text, stderr } = await curl(['--http2', '--verbose', ...args, url]);
      assert.match(stderr, /^> Upgrade: h2c\r?$/m, 'curl offers h2c');
      return text;
    };
    const get = JSON.parse(await run([])) as EchoBody;
    assert.equal(get.method, 'GET');
    const posted = JSON.parse(await run(['--data-binary', 'hello h2c'])) as EchoBody;
    assert.deepEqual([posted.method, posted.bytes], ['POST', 9]);
    for (const seen of [get, posted]) {
      assert.equal(seen.headers['upgrade'], undefined, 'Upgrade is hop-by-hop');
      assert.equal(seen.headers['http2-settings'], undefined, 'what Connection names stays on the hop');
    }
    const chunked = await rawRequest(proxy.port, 'POST /api/echo HTTP/1.1\r\nHost: x\r\nConnection: close\r\nUpgrade: h2c\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n');
    assert.equal(chunked.status, 200);
    assert.equal((JSON.parse(chunked.body) as EchoBody).bytes, 5);
    const broken = await rawRequest(proxy.port, 'GET /api/echo HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n');
    assert.equal(broken.status, 426, 'a WebSocket handshake without its version is still refused as one');
  });

  test('a bare ? is kept on its way upstream', async () => {
    assert.equal(echoOf(await send(proxy.port, '/api/echo?')).url, '/base/echo?');
    assert.equal(echoOf(await send(proxy.port, '/api/echo')).url, '/base/echo');
    assert.equal(echoOf(await send(proxy.port, '/api/echo?a=1&b')).url, '/base/echo?a=1&b');
  });

  test("the client's path never picks the host nor leaves the route's base path", async () => {
    for (const [path, upstreamUrl] of [
      ['/rec//10.0.0.5:6379/x', '/v1/10.0.0.5:6379/x'],
      ['/rec/a/../b', '/v1/b'],
      ['/rec/a/%2e%2e/c', '/v1/c'],
      ['/rec/./d//e/', '/v1/d/e/'],
    ] as const) {
      const answer = await rawRequest(proxy.port, `GET ${path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`);
      assert.equal(answer.status, 200, path);
      assert.equal(answer.body, `got ${upstreamUrl}`, path);
    }
    const before = recorder.seen.length;
    for (const path of ['/rec/../admin', '/rec/%2e%2e/admin', '/rec/..%2fadmin', '/rec/\\10.0.0.5:6379/x', '/rec/..;/admin', '/../rec/x']) {
      const answer = await rawRequest(proxy.port, `GET ${path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`);
      assert.ok(answer.status === 400 || answer.status === 404, `${path}: ${answer.status}`);
    }
    assert.deepEqual(urlsSeen().slice(before), []);
  });

  test('a websocket route: an empty segment or a host-looking path stays on the configured upstream', async () => {
    wsPaths.length = 0;
    for (const path of ['/chat//', '/chat//10.0.0.5:6379/x']) {
      const client = new WebSocket(`ws://127.0.0.1:${proxy.port}${path}`);
      await once(client, 'open');
      client.send('ping');
      const [data] = (await once(client, 'message')) as [Buffer];
      assert.equal(data.toString(), 'ping');
      client.close();
      await once(client, 'close');
    }
    assert.deepEqual(wsPaths, ['/', '/10.0.0.5:6379/x']);
    const backslash = await rawRequest(proxy.port, upgradeRequest('/chat/\\10.0.0.5:6379/x'));
    assert.equal(backslash.status, 400);
  });

  test('header bytes that node:http and ws refuse are refused at the edge, and the server goes on', async () => {
    const del = '\x7f';
    const plain = await rawRequest(proxy.port, `GET /rec/x HTTP/1.1\r\nHost: x\r\nX-Bad: a${del}b\r\nConnection: close\r\n\r\n`);
    assert.equal(plain.status, 400);
    const upgrade = await rawRequest(proxy.port, upgradeRequest('/chat/x', [`X-Bad: a${del}b`]));
    assert.equal(upgrade.status, 400);
    assert.equal((await send(proxy.port, '/api/alive')).status, 200);
  });

  test('non-ASCII header values reach the upstream byte for byte, and come back the same way', async () => {
    // Inside the value: uWS 20.30 trims leading and trailing bytes above 0x7f as if they were spaces (docs/engine.md).
    const value = Buffer.from('x café 中 x', 'utf8');
    const request = Buffer.concat([Buffer.from('GET /rec/utf8 HTTP/1.1\r\nHost: x\r\nX-Name: '), value, Buffer.from('\r\nConnection: close\r\n\r\n')]);
    const socket = netConnect(proxy.port, '127.0.0.1');
    await once(socket, 'connect');
    const chunks: Buffer[] = [];
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    socket.write(request);
    await once(socket, 'close');
    const answer = Buffer.concat(chunks);
    assert.match(answer.toString('latin1'), /^HTTP\/1\.1 200 /);
    // node:http sends the upstream's header as UTF-8 (c3 a9); websocksy passes those bytes on, not re-encoded.
    assert.ok(answer.includes(Buffer.from('X-Latin1: café\r\n', 'utf8')), 'the upstream header bytes come back unchanged');
    const seen = recorder.seen.find((r) => r.url === '/v1/utf8');
    const index = seen?.rawHeaders.findIndex((name) => name.toLowerCase() === 'x-name') ?? -1;
    assert.ok(index >= 0);
    assert.deepEqual(Buffer.from(seen?.rawHeaders[index + 1] ?? '', 'latin1'), value);
  });

  test('X-Forwarded-Proto and -Host are websocksy\'s own unless the client is a trusted proxy; Forwarded gets its element', async () => {
    const headers = { 'X-Forwarded-Proto': 'https', 'X-Forwarded-Host': 'public.example', Forwarded: 'for=192.0.2.7;proto=https' };
    const direct = echoOf(await send(proxy.port, '/api/fwd', { headers })).headers;
    assert.equal(direct['x-forwarded-proto'], 'http');
    assert.equal(direct['x-forwarded-host'], `127.0.0.1:${proxy.port}`);
    assert.equal(direct['forwarded'], `for=192.0.2.7;proto=https, for=127.0.0.1;proto=http;host="127.0.0.1:${proxy.port}"`);
    const behindProxy = echoOf(await send(trusting.port, '/api/fwd', { headers })).headers;
    assert.equal(behindProxy['x-forwarded-proto'], 'https');
    assert.equal(behindProxy['x-forwarded-host'], 'public.example');
  });

  test('the websocket relay delivers every message to a slow client, in order', async () => {
    const COUNT = 44;
    const SIZE = 512 * 1024;
    const client = new WebSocket(`ws://127.0.0.1:${proxy.port}/chat/flood`, { maxPayload: SIZE * 2 });
    await once(client, 'open');
    const got: number[] = [];
    client.on('message', (data: Buffer) => got.push(data[0] as number));
    const socket = socketUnder(client);
    socket.pause();
    client.send(`flood ${COUNT} ${SIZE}`);
    await new Promise((resolve) => setTimeout(resolve, 1500));
    socket.resume();
    for (let i = 0; i < 200 && got.length < COUNT; i++) await new Promise((resolve) => setTimeout(resolve, 50));
    assert.deepEqual(got, Array.from({ length: COUNT }, (_, i) => i & 0xff));
    assert.equal(client.readyState, WebSocket.OPEN);
    client.close();
    await once(client, 'close');
  });
});
