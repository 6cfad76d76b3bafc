/*
 * Every way an upgrade can fail gets an HTTP answer with a status, a short body and a log line;
 * subprotocols are negotiated as websocksy does.
 */
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { createConnection, createServer } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { engine } from '../src/front/engine.js';
import { closeClient, connect } from './helpers/client.js';
import { blackholeOrSkip } from './helpers/blackhole.js';
import { rawRequest, upgradeRequest } from './helpers/http.js';
import { tcpEcho, tempDir, type Peer } from './helpers/peers.js';
import { corkWarnings, startWebsocksy, type RunningWebsocksy } from './helpers/websocksy.js';


describe('handshake failures', () => {
  let echo: Peer;
  let server: RunningWebsocksy;
  before(async () => {
    echo = await tcpEcho();
    server = await startWebsocksy(['-l', '127.0.0.1', '-p', '0', '-c', `host=${echo.address}`]);
  });
  after(async () => {
    await server.stop();
    await echo.close();
  });

  test('a plain GET gets 426 with Sec-WebSocket-Version: 13', async () => {
    const answer = await rawRequest(server.port, 'GET / HTTP/1.1\r\nHost: x\r\n\r\n');
    assert.equal(answer.status, 426);
    assert.equal(answer.headers.get('sec-websocket-version'), '13');
    assert.equal(answer.headers.get('upgrade'), 'websocket');
    assert.match(answer.body, /WebSocket endpoint/);
  });

  test('no answer names the engine: no uWebSockets header on a refusal or on a 101', async () => {
    const refused = await rawRequest(server.port, 'GET / HTTP/1.1\r\nHost: x\r\n\r\n');
    assert.equal(refused.status, 426);
    assert.equal(refused.headers.has('uwebsockets'), false, refused.raw);
    assert.ok(refused.headers.has('date'), refused.raw);
    const upgraded = await rawRequest(server.port, upgradeRequest('/'));
    assert.equal(upgraded.status, 101);
    assert.equal(upgraded.headers.has('uwebsockets'), false, upgraded.raw);
  });

  test('another method gets 405 with Allow: GET', async () => {
    const answer = await rawRequest(server.port, 'POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n');
    assert.equal(answer.status, 405);
    assert.equal(answer.headers.get('allow'), 'GET');
  });

  test('a WebSocket version other than 13 gets 426 naming the version', async () => {
    const answer = await rawRequest(server.port, upgradeRequest('/', [], { 'Sec-WebSocket-Version': '8' }));
    assert.equal(answer.status, 426);
    assert.equal(answer.headers.get('sec-websocket-version'), '13');
    await server.waitForLog(/refused .*status="426 Upgrade Required" why="Sec-WebSocket-Version \\"8\\""/);
  });

  test('a missing or malformed key gets 400', async () => {
    for (const key of ['', 'short']) {
      const answer = await rawRequest(server.port, upgradeRequest('/', [], { 'Sec-WebSocket-Key': key }));
      assert.equal(answer.status, 400, `key ${JSON.stringify(key)}`);
      assert.match(answer.body, /Sec-WebSocket-Key/);
    }
  });

  test('a 24-character key that is not the base64 of 16 bytes gets 400 (RFC 6455 §4.2.1)', async () => {
    for (const key of ['!!!!!!!!!!!!!!!!!!!!!!==', 'dGhlIHNhbXBsZSBub25jZR==', 'dGhlIHNhbXBsZSBub25jZQ=x', 'dGhlIHNhbXBsZSBub25jZQ']) {
      const answer = await rawRequest(server.port, upgradeRequest('/', [], { 'Sec-WebSocket-Key': key }));
      assert.equal(answer.status, 400, `key ${key}`);
    }
  });

  test('a repeated Sec-WebSocket-Key or -Version gets 400, even when uWS would take the first', async () => {
    for (const extra of ['Sec-WebSocket-Key: AQIDBAUGBwgJCgsMDQ4PEA==', 'Sec-WebSocket-Version: 8', 'Sec-WebSocket-Version: 13']) {
      const answer = await rawRequest(server.port, upgradeRequest('/', [extra]));
      assert.equal(answer.status, 400, extra);
    }
    await server.waitForLog(/refused .*why="header sec-websocket-version appears more than once"/);
  });

  test('upgrades to a peer on this host are answered inside the engine\'s handler, corked: no uWS warning, and every one opens', async () => {
    const before = corkWarnings(server);
    const clients = await Promise.all(Array.from({ length: 50 }, () => connect(server.url)));
    await Promise.all(clients.map(closeClient));
    assert.equal(corkWarnings(server) - before, 0);
  });

  test('upgrades answered after a wait are corked wherever the engine lets them be, and every one opens', async () => {
    // A peer named, not numbered: node:net looks the name up and connects on a later turn, so each
    // upgrade is answered after uWS's handler returned.
    const waiting = await startWebsocksy(['-l', '127.0.0.1', '-p', '0', '-c', `host=${echo.address.replace('127.0.0.1', 'localhost')}`]);
    try {
      const clients = await Promise.all(Array.from({ length: 50 }, () => connect(waiting.url)));
      await Promise.all(clients.map(closeClient));
      // Where corking a late upgrade would close it (Engine.corksLateUpgrades), uWS warns once for each one.
      assert.equal(corkWarnings(waiting), engine().corksLateUpgrades ? 0 : 50);
    } finally {
      await waiting.stop();
    }
  });

  test('a missing Upgrade or Connection header gets 400', async () => {
    for (const overrides of [{ Connection: 'keep-alive' }, { Upgrade: 'h2c' }]) {
      const answer = await rawRequest(server.port, upgradeRequest('/', [], overrides));
      assert.equal(answer.status, 400, JSON.stringify(overrides));
    }
  });

  test('lower-case header names work (proxies lower-case them)', async () => {
    const request = [
      'GET /lower HTTP/1.1',
      'host: x',
      'upgrade: websocket',
      'connection: upgrade',
      'sec-websocket-key: dGhlIHNhbXBsZSBub25jZQ==',
      'sec-websocket-version: 13',
      '',
      '',
    ].join('\r\n');
    const answer = await rawRequest(server.port, request);
    assert.equal(answer.status, 101);
    assert.equal(answer.headers.get('sec-websocket-accept'), 's3pPLMBiTxaQ9kYGzzhZRbK+xOo=');
  });
});

describe('peer connection failures', () => {
  test('an unreachable peer gets 502 and a log line saying why', async () => {
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const port = (closed.address() as { port: number }).port;
    closed.close();
    const server = await startWebsocksy(['-l', '127.0.0.1', '-p', '0', '-c', `host=tcp://127.0.0.1:${port}`]);
    try {
      const answer = await rawRequest(server.port, upgradeRequest('/x'));
      assert.equal(answer.status, 502);
      assert.match(answer.body, /Peer unreachable/);
      assert.doesNotMatch(answer.body, /127\.0\.0\.1/, 'the body reveals no internals');
      await server.waitForLog(/refused .*status="502 Bad Gateway" .*ECONNREFUSED/);
    } finally {
      await server.stop();
    }
  });

  test('a peer that never answers the connect gets 504 after connect-timeout', async (t) => {
    const hole = await blackholeOrSkip(t);
    if (hole === null) return;
    const server = await startWebsocksy(['-l', '127.0.0.1', '-p', '0', '--connect-timeout', '1', '-c', `host=tcp://127.0.0.1:${hole.port}`]);
    try {
      const started = Date.now();
      const answer = await rawRequest(server.port, upgradeRequest('/slow'), 10_000);
      assert.equal(answer.status, 504);
      assert.ok(Date.now() - started >= 950, 'answered only after the timeout');
      await server.waitForLog(/refused .*status="504 Gateway Timeout"/);
    } finally {
      hole.close();
      await server.stop();
    }
  });

  test('a client that leaves mid-handshake is cleaned up', async (t) => {
    const hole = await blackholeOrSkip(t);
    if (hole === null) return;
    const server = await startWebsocksy(['-l', '127.0.0.1', '-p', '0', '--connect-timeout', '1', '-c', `host=tcp://127.0.0.1:${hole.port}`]);
    try {
      const socket = createConnection(server.port, '127.0.0.1');
      socket.on('error', () => undefined);
      socket.write(upgradeRequest('/leaving'));
      await new Promise((resolve) => setTimeout(resolve, 300));
      socket.destroy();
      await server.waitForLog(/client left during handshake id=1/);
      // The connect attempt that outlives the client must not be answered or crash anything:
      // waited for past its timeout (1 s from the request).
      await new Promise((resolve) => setTimeout(resolve, 1500));
      assert.equal(server.process.exitCode, null);
      assert.doesNotMatch(server.log(), /refused id=1/);
    } finally {
      hole.close();
      await server.stop();
    }
  });
});

describe('subprotocols', () => {
  let echo: Peer;
  before(async () => {
    echo = await tcpEcho();
  });
  after(async () => {
    await echo.close();
  });

  async function negotiate(backendProtocol: string | null, offered: string): Promise<string | undefined> {
    const args = ['-l', '127.0.0.1', '-p', '0', '-c', `host=${echo.address}`];
    if (backendProtocol !== null) args.push('-c', `protocol=${backendProtocol}`);
    const server = await startWebsocksy(args);
    try {
      const extra = offered === '' ? [] : [`Sec-WebSocket-Protocol: ${offered}`];
      const answer = await rawRequest(server.port, upgradeRequest('/', extra));
      assert.equal(answer.status, 101);
      return answer.headers.get('sec-websocket-protocol');
    } finally {
      await server.stop();
    }
  }

  test('"*" takes the first offered protocol', async () => {
    assert.equal(await negotiate('*', 'p1, p2'), 'p1');
  });

  test('a configured protocol matches case-insensitively and echoes the client spelling', async () => {
    assert.equal(await negotiate('mqtt', 'other, MQTT'), 'MQTT');
  });

  test('no configured protocol, or none offered, answers without a protocol', async () => {
    assert.equal(await negotiate(null, 'p1'), undefined);
    assert.equal(await negotiate('*', ''), undefined);
  });

  test('duplicates and blanks in the offer are ignored', async () => {
    assert.equal(await negotiate('*', ' , p2 ,p2, p3'), 'p2');
  });

  test('a real client gets its protocol', async () => {
    const server = await startWebsocksy(['-l', '127.0.0.1', '-p', '0', '-c', `host=${echo.address}`, '-c', 'protocol=binary']);
    try {
      const client = await connect(server.url, ['base64', 'binary']);
      assert.equal(client.ws.protocol, 'binary');
      await closeClient(client);
    } finally {
      await server.stop();
    }
  });
});

describe('handshakes in flight are bounded in time and in number', () => {
  const dir = tempDir('websocksy-pending-');
  let echo: Peer;
  let server: RunningWebsocksy;
  before(async () => {
    echo = await tcpEcho();
    writeFileSync(
      `${dir.path}/backend_stalls.mjs`,
      `export default () => ({ name: 'stalls', query: (q) => q.endpoint.startsWith('/never') ? new Promise(() => undefined) : { host: '${echo.address}' } });\n`,
    );
    server = await startWebsocksy(['-l', '127.0.0.1', '-p', '0', '-P', dir.path, '-b', 'stalls', '--backend-timeout', '1', '--max-handshakes', '2', '--allow-peers', 'tcp:127.0.0.1:*']);
  });
  after(async () => {
    await server.stop();
    await echo.close();
    dir.remove();
  });

  test('a backend that never answers: 504 after backend-timeout', async () => {
    const started = Date.now();
    const answer = await rawRequest(server.port, upgradeRequest('/never'), 5000);
    assert.equal(answer.status, 504);
    assert.ok(Date.now() - started >= 900, 'answered only after the timeout');
    await server.waitForLog(/refused .*status="504 Gateway Timeout" why="backend \\"stalls\\" did not answer within 1000 ms"/);
  });

  test('past max-handshakes waiting at once, a new upgrade gets 503 with Retry-After at once', async () => {
    const waiting = [rawRequest(server.port, upgradeRequest('/never-1'), 5000), rawRequest(server.port, upgradeRequest('/never-2'), 5000)];
    await new Promise((resolve) => setTimeout(resolve, 200));
    const started = Date.now();
    const refused = await rawRequest(server.port, upgradeRequest('/echo'));
    assert.equal(refused.status, 503);
    assert.equal(refused.headers.get('retry-after'), '1');
    assert.ok(Date.now() - started < 500);
    assert.deepEqual((await Promise.all(waiting)).map((answer) => answer.status), [504, 504]);
    const client = await connect(`${server.url}/echo`);
    client.ws.send('room again');
    assert.equal((await client.next()).data.toString(), 'room again');
    await closeClient(client);
  });
});
