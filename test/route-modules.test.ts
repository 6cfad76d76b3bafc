/*
 * Route modules (`[route /prefix] module = FILE`, docs/routes.md), end to end: a real websocksy
 * serves test/modules/route_lab.mjs next to the bridge, and real clients drive it — curl and
 * node's fetch for HTTP (20 MB streamed each way, hashed both ways), `ws` and Python's
 * `websockets` for WebSocket. Then the ways a module or a client can go wrong: bodies over
 * max-body, a client that stops reading, a module that ignores backpressure, handlers that
 * throw, reject or never answer, a close() that throws at shutdown, modules of the wrong shape.
 * A bridge neighbour and a module neighbour, both opened first, must keep echoing throughout.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { writeFileSync } from 'node:fs';
import { connect as connectTcp, type Socket } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';
import { closeClient, connect, type TestClient } from './helpers/client.js';
import { curl, SKIP_WITHOUT_CURL } from './helpers/curl.js';
import { sendAllThenRead } from './helpers/http.js';
import { tcpEcho, tempDir, type Peer } from './helpers/peers.js';
import { requireProgram, skipUnlessInstalled } from './helpers/tools.js';
import { rssBytes } from './helpers/process-figures.js';
import { ROOT, runWebsocksy, startWebsocksy, type RunningWebsocksy } from './helpers/websocksy.js';

const LAB = `${ROOT}test/modules/route_lab.mjs`;
const MiB = 1024 * 1024;
/** Debian's python, which has the package (a python3 earlier on PATH may not). */
const PYTHON = spawnSync('/usr/bin/python3', ['-c', 'import websockets'], { stdio: 'ignore' }).status === 0 ? '/usr/bin/python3' : undefined;

const sha256 = (data: Buffer): string => createHash('sha256').update(data).digest('hex');

/** A config file in `dir` holding `lines`; its path. */
function writeConfig(dir: string, lines: readonly string[]): string {
  const path = join(dir, 'routes.cfg');
  writeFileSync(path, [...lines, ''].join('\n'));
  return path;
}

interface Run {
  readonly code: number | null;
  readonly stdout: Buffer;
  readonly stderr: string;
}

/** Runs a program to its end (killed past `timeoutMs`), its output collected. */
async function run(program: string, args: readonly string[], timeoutMs = 60_000): Promise<Run> {
  const child = spawn(program, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  const stdout: Buffer[] = [];
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => stdout.push(chunk));
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
  const [code] = (await once(child, 'exit')) as [number | null];
  clearTimeout(timer);
  return { code, stdout: Buffer.concat(stdout), stderr };
}

async function echoes(client: TestClient, text: string): Promise<void> {
  client.ws.send(text);
  assert.equal((await client.next()).data.toString(), text);
}

/** A GET over a raw socket, whose reading the test controls (node's clients read on their own). */
function rawGet(port: number, path: string): Socket {
  const socket = connectTcp(port, '127.0.0.1');
  socket.write(`GET ${path} HTTP/1.1\r\nHost: x\r\n\r\n`);
  return socket;
}

async function sleep(ms: number): Promise<void> {
  await new Promise((resolve) => setTimeout(resolve, ms));
}

describe('route modules', { skip: SKIP_WITHOUT_CURL }, () => {
  const dir = tempDir('websocksy-route-modules-');
  let echo: Peer;
  let server: RunningWebsocksy;
  let http: string;
  /** Opened first, on the bridge and on the module: each must keep echoing through every fault. */
  let bridgeNeighbour: TestClient;
  let moduleNeighbour: TestClient;

  before(async () => {
    echo = await tcpEcho();
    const config = writeConfig(dir.path, [
      '[core]', 'listen = 127.0.0.1', 'port = 0',
      '[backend]', `host = ${echo.address}`,
      '[route /lab]', `module = ${LAB}`, 'max-body = 32m', 'max-message = 1m', 'timeout = 1',
      // The same file again: an instance of its own, with other limits.
      '[route /small]', `module = ${LAB}`, 'max-body = 1k',
      '[route /slow]', `module = ${LAB}`, 'timeout = 30',
    ]);
    server = await startWebsocksy([config]);
    http = `http://127.0.0.1:${server.port}`;
    bridgeNeighbour = await connect(`${server.url}/neighbour`);
    moduleNeighbour = await connect(`${server.url}/lab/neighbour`);
  });

  after(async () => {
    await closeClient(bridgeNeighbour);
    await closeClient(moduleNeighbour);
    await server.stop();
    await echo.close();
    dir.remove();
  });

  const neighboursEcho = async (): Promise<void> => {
    // The module neighbour hears the broadcasts of the tests on its route too.
    moduleNeighbour.takeAll();
    await echoes(bridgeNeighbour, 'still here, bridge');
    await echoes(moduleNeighbour, 'still here, module');
  };

  test('a GET sees the request as the front checked it: method, normalised path, rest, query, headers, client', async () => {
    const response = await fetch(`${http}/lab/./echo//x?a=1&b`, { headers: { 'X-Lab-Tag': 'tagged' } });
    assert.equal(response.status, 200);
    assert.equal(response.headers.get('content-type'), 'application/json');
    assert.equal(response.headers.get('x-lab'), 'one, two');
    assert.deepEqual(await response.json(), { method: 'GET', path: '/lab/echo/x', rest: '/echo/x', query: 'a=1&b', tag: 'tagged', client: '127.0.0.1' });
    const head = await fetch(`${http}/lab/echo`, { method: 'HEAD' });
    assert.equal(head.status, 200);
    assert.ok(Number(head.headers.get('content-length')) > 0, 'HEAD reports the length GET would send');
    assert.equal((await head.arrayBuffer()).byteLength, 0);
    assert.equal((await fetch(`${http}/lab/nothing-here`)).status, 404);
  });

  test('20 MB up and down through curl: streamed both ways, sha256 equal, chunked and with a length', { timeout: 60_000 }, async () => {
    const data = randomBytes(20 * MiB);
    const file = join(dir.path, 'upload.bin');
    writeFileSync(file, data);
    for (const [name, extra] of [['curl-length', []], ['curl-chunked', ['-H', 'Transfer-Encoding: chunked']]] as const) {
      const up = await curl(['-X', 'PUT', '--data-binary', `@${file}`, ...extra, `${http}/lab/blob/${name}`], 60);
      assert.deepEqual(JSON.parse(up.stdout.toString()), { bytes: data.length, sha256: sha256(data) }, name);
      for (const query of ['', '?length']) {
        const down = await curl(['--include', `${http}/lab/blob/${name}${query}`], 60);
        const split = down.stdout.indexOf('\r\n\r\n');
        const head = down.stdout.subarray(0, split).toString();
        assert.match(head, query === '' ? /transfer-encoding: chunked/i : new RegExp(`content-length: ${data.length}`, 'i'));
        assert.equal(sha256(down.stdout.subarray(split + 4)), sha256(data), `${name}${query}`);
      }
    }
  });

  test('20 MB up and down through fetch, the upload also as a stream of unknown length', { timeout: 60_000 }, async () => {
    const data = randomBytes(20 * MiB);
    const whole = await fetch(`${http}/lab/blob/fetch`, { method: 'POST', body: data });
    assert.equal(whole.status, 201);
    assert.deepEqual(await whole.json(), { bytes: data.length, sha256: sha256(data) });
    const pieces = new ReadableStream<Uint8Array>({
      start(controller) {
        for (let offset = 0; offset < data.length; offset += MiB) controller.enqueue(data.subarray(offset, offset + MiB));
        controller.close();
      },
    });
    const streamed = await fetch(`${http}/lab/blob/fetch-streamed`, { method: 'POST', body: pieces, duplex: 'half' } as RequestInit);
    assert.deepEqual(await streamed.json(), { bytes: data.length, sha256: sha256(data) });
    for (const name of ['fetch', 'fetch-streamed']) {
      const down = await fetch(`${http}/lab/blob/${name}`);
      assert.equal(sha256(Buffer.from(await down.arrayBuffer())), sha256(data), name);
    }
    // Each route has a module instance of its own: /small never saw these blobs.
    assert.equal((await fetch(`${http}/small/blob/fetch`)).status, 404);
  });

  test('a body over max-body gets 413: a declared length before the module runs, a chunked one as it passes the limit', async () => {
    const small = join(dir.path, 'small.bin');
    writeFileSync(small, Buffer.alloc(1000, 1));
    const fits = await curl(['-X', 'PUT', '--data-binary', `@${small}`, '--write-out', '%{http_code}', '--output', '/dev/null', `${http}/small/blob/x`]);
    assert.equal(fits.text, '201');
    const large = join(dir.path, 'large.bin');
    writeFileSync(large, Buffer.alloc(MiB, 2));
    // curl, still sending when the answer comes, stops and reads it. The connection used to be
    // closed under it, which now and then reset it first ("Send failure", no status): several rounds.
    for (let round = 0; round < 4; round++) {
      for (const extra of [[], ['-H', 'Transfer-Encoding: chunked']]) {
        const over = await curl(['-X', 'PUT', '--data-binary', `@${large}`, ...extra, '--write-out', '%{http_code}', '--output', '/dev/null', `${http}/small/blob/y`]);
        assert.equal(over.text, '413', extra.join(' '));
      }
    }
    // Just over the limit, through fetch.
    const near = await fetch(`${http}/small/blob/z`, { method: 'PUT', body: Buffer.alloc(1500, 3) });
    assert.equal(near.status, 413);
    await server.waitForLog(/route module body too large id=\d+ route=\/small method=PUT path=\/small\/blob\/y .*status=413/);
    await neighboursEcho();
  });

  test('a client that sends all its body before it reads gets the 413 whole, and the connection ends cleanly', async () => {
    const body = Buffer.alloc(3 * MiB, 4);
    const declared = Buffer.concat([Buffer.from(`PUT /small/blob/all HTTP/1.1\r\nHost: x\r\nContent-Length: ${body.length}\r\n\r\n`), body]);
    const chunks: Buffer[] = [Buffer.from('PUT /small/blob/all HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n')];
    for (let at = 0; at < body.length; at += 64 * 1024) chunks.push(Buffer.from(`10000\r\n`), body.subarray(at, at + 64 * 1024), Buffer.from('\r\n'));
    chunks.push(Buffer.from('0\r\n\r\n'));
    for (const [framing, request] of [['declared', declared], ['chunked', Buffer.concat(chunks)]] as const) {
      // Rejects on a reset while writing or reading, or if the server stops reading (a paused socket).
      const answer = await sendAllThenRead(server.port, request);
      assert.equal(answer.status, 413, framing);
      assert.equal(answer.headers.get('connection'), 'close', framing);
      assert.equal(answer.body, 'Content too large\n', framing);
    }
    await neighboursEcho();
  });

  test('a client that stops reading an endless download: the module waits on drained(), server memory stays bounded', { timeout: 30_000 }, async () => {
    const pid = server.process.pid as number;
    const baseline = rssBytes(pid);
    const socket = rawGet(server.port, '/slow/endless');
    let received = 0;
    socket.on('data', (chunk: Buffer) => {
      received += chunk.length;
      if (received > 4 * MiB) socket.pause();
    });
    let peak = baseline;
    for (let i = 0; i < 60; i++) {
      await sleep(50);
      peak = Math.max(peak, rssBytes(pid));
    }
    const receivedWhilePaused = received;
    await sleep(500);
    assert.equal(received, receivedWhilePaused, 'the client really stopped reading');
    assert.ok(peak - baseline < 48 * MiB, `RSS grew by ${((peak - baseline) / MiB).toFixed(1)} MiB`);
    socket.destroy();
    await server.waitForLog(/route module response cut id=\d+ route=\/slow method=GET path=\/slow\/endless/);
    await neighboursEcho();
  });

  test('a module that writes on past write() = false is cut off, as an internal error, its memory bounded', { timeout: 30_000 }, async () => {
    const pid = server.process.pid as number;
    const baseline = rssBytes(pid);
    const socket = rawGet(server.port, '/slow/flood');
    let received = 0;
    socket.on('data', (chunk: Buffer) => (received += chunk.length));
    // Bounded, without holding the process for the bound once the socket has closed.
    await Promise.race([once(socket, 'close'), delay(10_000, undefined, { ref: false })]);
    assert.ok(socket.destroyed, 'the connection was cut');
    assert.ok(received < 256 * MiB, `${received} bytes arrived of the 256 MiB the module wrote`);
    assert.ok(rssBytes(pid) - baseline < 64 * MiB);
    await server.waitForLog(/internal error id=\d+ route=\/slow method=GET path=\/slow\/flood .*where="route module response" error="the module wrote \d+ bytes on after write\(\) returned false/);
    await neighboursEcho();
  });

  test("a client that leaves runs the module's onAborted, and a drained() left unawaited rejects harmlessly", async () => {
    const before = ((await (await fetch(`${http}/lab/aborts`)).json()) as { aborts: number }).aborts;
    const socket = rawGet(server.port, '/lab/wait');
    socket.pause();
    await sleep(200);
    socket.destroy();
    for (let i = 0; i < 50; i++) {
      const { aborts } = (await (await fetch(`${http}/lab/aborts`)).json()) as { aborts: number };
      if (aborts > before) return neighboursEcho();
      await sleep(20);
    }
    assert.fail('onAborted never ran');
  });

  test("an accept() that throws refuses that upgrade with 500", async () => {
    await assert.rejects(connect(`${server.url}/lab/accept-throws`), /HTTP 500/);
    await server.waitForLog(/internal error id=\d+ where="route \/lab upgrade" error="lab: accept threw"/);
    await neighboursEcho();
  });

  test('handlers that throw, reject, or throw after their answer began cost only their own request, logged with id and place', async () => {
    for (const [path, error] of [['throw', 'lab: thrown'], ['reject', 'lab: rejected']] as const) {
      const response = await fetch(`${http}/lab/${path}`).catch((error: unknown) => assert.fail(`${path}: ${String((error as Error).cause)}`));
      assert.equal(response.status, 500, path);
      assert.equal(await response.text(), 'Internal error\n');
      await server.waitForLog(new RegExp(`internal error id=\\d+ route=/lab method=GET path=/lab/${path} client=127.0.0.1 where="route module request" error="${error}"`));
      await neighboursEcho();
    }
    const cut = await fetch(`${http}/lab/cut`);
    assert.equal(cut.status, 200);
    await assert.rejects(cut.text(), 'the answer is cut, never ended as if whole');
    await server.waitForLog(/internal error id=\d+ route=\/lab method=GET path=\/lab\/cut .*error="lab: thrown after the answer began"/);
    await neighboursEcho();
  });

  test("a handler that never answers gets 504 after the route's timeout", async () => {
    const started = Date.now();
    const response = await fetch(`${http}/lab/never`);
    const ms = Date.now() - started;
    assert.equal(response.status, 504);
    assert.ok(ms >= 900 && ms < 5000, `answered after ${ms} ms (timeout = 1)`);
    await server.waitForLog(/route module timed out id=\d+ route=\/lab method=GET path=\/lab\/never .*status=504/);
    await neighboursEcho();
  });

  test('WebSocket through ws: the subprotocol the module chose, echo, broadcast, a refused upgrade', async () => {
    const clients = await Promise.all([0, 1, 2].map(() => connect(`${server.url}/lab/chat`, ['other', 'lab'])));
    try {
      for (const client of clients) assert.equal(client.ws.protocol, 'lab');
      await echoes(clients[1] as TestClient, 'echo me');
      (clients[0] as TestClient).ws.send(Buffer.from([1, 2, 3]));
      const binary = await (clients[0] as TestClient).next();
      assert.ok(binary.binary);
      assert.deepEqual([...binary.data], [1, 2, 3]);
      (clients[2] as TestClient).ws.send('all:hello everyone');
      for (const client of clients) assert.equal((await client.next()).data.toString(), 'hello everyone');
      const plain = await connect(`${server.url}/lab/chat`);
      plain.ws.send('protocol');
      assert.equal((await plain.next()).data.toString(), '');
      await closeClient(plain);
      await assert.rejects(connect(`${server.url}/lab/refused`), /HTTP 403/);
    } finally {
      await Promise.all(clients.map(closeClient));
    }
    await neighboursEcho();
  });

  test("WebSocket through Python's websockets: subprotocol, echo and broadcast", { skip: skipUnlessInstalled(PYTHON !== undefined, 'python3-websockets'), timeout: 60_000 }, async () => {
    const python = requireProgram(PYTHON, 'python3-websockets');
    const result = await run(python, [join(ROOT, 'test/python/route_chat.py'), `${server.url}/lab/chat`, '5'], 30_000);
    assert.equal(result.code, 0, result.stderr);
    const reports = result.stdout.toString().trim().split('\n').map((line) => JSON.parse(line) as { protocol: string; echo: string; heard: string[]; code: number });
    assert.equal(reports.length, 5);
    const everyone = [0, 1, 2, 3, 4].map((i) => `from ${i}`);
    reports.forEach((report, i) => assert.deepEqual(report, { protocol: 'lab', echo: `echo ${i}`, heard: everyone, code: 1000 }));
    await neighboursEcho();
  });

  test('WebSocket: a message handler that throws, or rejects, closes only its socket with 1011', async () => {
    for (const [text, error] of [['throw', 'lab: message threw'], ['reject', 'lab: message rejected']] as const) {
      const victim = await connect(`${server.url}/lab/victim`);
      victim.ws.send(text);
      assert.equal((await victim.closed()).code, 1011);
      await server.waitForLog(new RegExp(`internal error id=\\d+ route=/lab path=/lab/victim client=127.0.0.1 where="route module message" error="${error}"`));
      await neighboursEcho();
    }
  });

  test('WebSocket: a client that stops reading while the module sends on is closed with 1013, not dropped from', { timeout: 30_000 }, async () => {
    const slow = await connect(`${server.url}/lab/slow`);
    slow.ws.pause();
    slow.ws.send('flood:400');
    await server.waitForLog(/route module socket closed id=\d+ route=\/lab path=\/lab\/slow .*code=1013 why="client is not reading/);
    // The close frame waits behind what is queued, and uWS drops a connection whose close
    // does not complete within a few seconds: a client that reads again at once gets it.
    slow.ws.resume();
    assert.equal((await slow.closed(10_000)).code, 1013);
    await neighboursEcho();
  });
});

describe('route module WebSocket drain', () => {
  const dir = tempDir('websocksy-route-drain-');
  after(() => dir.remove());

  test("a large message sent from the module's drain handler arrives whole, to a client that reads slowly", { timeout: 60_000 }, async () => {
    // uWS runs drain inside the socket's writable event; a large send made there that the
    // kernel takes only in part once stalled: the rest stayed queued, never polled for.
    const config = writeConfig(dir.path, ['[core]', 'listen = 127.0.0.1', 'port = 0', '[route /lab]', `module = ${LAB}`]);
    const server = await startWebsocksy([config]);
    try {
      for (let round = 0; round < 5; round++) {
        const client = await connect(`${server.url}/lab/ws`);
        let messages = 0;
        let lastWords: Buffer | null = null;
        client.onMessage((data) => {
          messages++;
          if (data.length === MiB - 16) lastWords = data;
        });
        client.ws.send('last-words');
        // Reads a little at a time, so the kernel rarely has room for a whole megabyte.
        const deadline = Date.now() + 10_000;
        while (lastWords === null && Date.now() < deadline) {
          client.ws.pause();
          await sleep(20);
          client.ws.resume();
          await sleep(1);
        }
        client.ws.resume();
        const words = lastWords as Buffer | null;
        assert.ok(words !== null, `round ${round}: ${messages} messages arrived, not the one sent from drain`);
        assert.equal(messages, (words[0] ?? 0) + 1, `round ${round}: every message before it arrived`);
        await closeClient(client);
      }
    } finally {
      await server.stop();
    }
  });
});

describe('route module lifecycle', () => {
  const dir = tempDir('websocksy-route-lifecycle-');
  after(() => dir.remove());

  test('at shutdown sockets get 1001, a close() that throws is logged, and shutdown completes', async () => {
    const config = writeConfig(dir.path, ['[core]', 'listen = 127.0.0.1', 'port = 0', '[route /lab]', `module = ${LAB}`, 'module-config = close-throws']);
    const server = await startWebsocksy([config]);
    const client = await connect(`${server.url}/lab/ws`);
    await echoes(client, 'before shutdown');
    assert.equal(await server.stop(), 0);
    // 'exit' may come before the last of the log: read stderr to its end.
    const stderr = server.process.stderr;
    if (stderr !== null && !stderr.readableEnded) await once(stderr, 'end');
    assert.equal((await client.closed()).code, 1001);
    assert.match(server.log(), /route module ready route=\/lab file=\S+route_lab\.mjs/);
    assert.match(server.log(), /internal error route=\/lab file=\S+route_lab\.mjs where="route module close" error="lab: close threw"/);
  });

  test('an init() that fails stops start-up, naming the file', async () => {
    const config = writeConfig(dir.path, ['[core]', 'listen = 127.0.0.1', 'port = 0', '[route /lab]', `module = ${LAB}`, 'module-config = init-throws']);
    const { code, stderr } = await runWebsocksy([config]);
    assert.equal(code, 1, stderr);
    assert.match(stderr, /plugin \S+route_lab\.mjs: init failed: lab: init refused/);
  });
});

describe('a route module that cannot be used stops websocksy at start-up, naming the file', () => {
  const dir = tempDir('websocksy-route-shapes-');
  after(() => dir.remove());

  /** Starts a config whose [route PREFIX] names module FILE (written with `source`), expecting `pattern` on stderr. */
  async function refused(file: string, source: string | null, pattern: RegExp, prefix = '/x', extra: readonly string[] = []): Promise<void> {
    if (source !== null) writeFileSync(join(dir.path, file), source);
    const config = writeConfig(dir.path, ['[core]', 'listen = 127.0.0.1', 'port = 0', `[route ${prefix}]`, `module = ${file}`, ...extra]);
    const { code, stderr } = await runWebsocksy([config]);
    assert.equal(code, 1, `${file}: ${stderr}`);
    assert.match(stderr, pattern);
  }

  test('exports of the wrong shape', async () => {
    await refused('route_number.mjs', 'export default 42;', /plugin \S+route_number\.mjs: the default export must be a route module/);
    await refused('route_none.mjs', 'export const request = () => {};', /plugin \S+route_none\.mjs: has no default export/);
    await refused('route_typo.mjs', 'export default { requset() {} };', /plugin \S+route_typo\.mjs: the default export has "requset", which a route module does not have/);
    await refused('route_string.mjs', 'export default { request: "hello" };', /plugin \S+route_string\.mjs: the default export's request is not a function/);
    await refused('route_idle.mjs', 'export default { init() {} };', /plugin \S+route_idle\.mjs: serves nothing/);
    await refused('route_deaf.mjs', 'export default { websocket: { drain() {} } };', /plugin \S+route_deaf\.mjs: websocket has neither open nor message/);
    await refused('route_socket.mjs', 'export default { websocket: { open: 1 } };', /plugin \S+route_socket\.mjs: websocket's open is not a function/);
    await refused('route_root.mjs', 'export default { websocket: { open() {} } };', /plugin \S+route_root\.mjs: has websocket handlers, but on \[route \/\] WebSocket upgrades are the bridge's/, '/');
    await refused('route_broken.mjs', 'throw new Error("broken at load");', /plugin \S+route_broken\.mjs: cannot load: broken at load/);
  });

  test('config lines name the file, line and key', async () => {
    await refused('missing.mjs', null, /routes\.cfg:5 \[route \/x\]: module: cannot use module \S+missing\.mjs: ENOENT/);
    await refused('route.txt', 'x', /routes\.cfg:5 \[route \/x\]: module: \S+route\.txt is not an ES module file/);
    writeFileSync(join(dir.path, 'route_ok.mjs'), 'export default { request(q, r) { r.end(); } };');
    await refused('route_ok.mjs', null, /routes\.cfg:4 \[route \/x\]: \[route \/x\] needs exactly one of to, websocket, static, module/, '/x', ['to = http://127.0.0.1:1/']);
    await refused('route_ok.mjs', null, /routes\.cfg:6 \[route \/x\]: max-body: "lots" is not a size/, '/x', ['max-body = lots']);
    const config = writeConfig(dir.path, ['[core]', 'listen = 127.0.0.1', 'port = 0', '[route /x]', `static = ${dir.path}`, 'module-config = x']);
    const { code, stderr } = await runWebsocksy([config]);
    assert.equal(code, 1);
    assert.match(stderr, /routes\.cfg:6 \[route \/x\]: module-config: only a route with "module = FILE" sets it/);
  });
});
