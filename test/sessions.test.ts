/*
 * Resumable sessions (docs/sessions.md) at the protocol level, against the real websocksy and
 * real TCP peers: opening, plain clients untouched, drop and resume with nothing lost or
 * doubled either way, the four refusals, takeover, grace expiry, the memory bound on a detached
 * session whose peer keeps talking, and the HTTP long-poll transport with a switch to WebSocket.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { writeFileSync } from 'node:fs';
import { connect as tcpConnect, type Socket } from 'node:net';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, test } from 'node:test';
import { checkedAnswer } from '../src/core/peer-answer.js';
import { Refusal } from '../src/core/refusal.js';
import { connect } from './helpers/client.js';
import { curl, SKIP_WITHOUT_CURL } from './helpers/curl.js';
import { rawRequest, upgradeRequest } from './helpers/http.js';
import { freePort } from './helpers/instances.js';
import { streamServer, tcpEcho, tempDir, type Peer } from './helpers/peers.js';
import { ack, ackValue, httpRecord, httpRecords, SESSION_PROTOCOL, SessionConnection, T, type Welcome } from './helpers/session-records.js';
import { until } from './helpers/session-client.js';
import { runWebsocksy, startWebsocksy, type RunningWebsocksy } from './helpers/websocksy.js';

const BASE_ARGS = ['-l', '127.0.0.1', '-p', '0', '-k', '0'];

/** A peer that says `count` numbered lines, a few at a time, and records what it is sent. */
async function talkingPeer(count: number): Promise<Peer & { heard: Buffer[]; connections: Socket[] }> {
  const heard: Buffer[] = [];
  const connections: Socket[] = [];
  const server = await streamServer((socket) => {
    connections.push(socket);
    socket.on('data', (chunk: Buffer) => heard.push(chunk));
    let next = 0;
    const timer = setInterval(() => {
      let lines = '';
      for (let i = 0; i < 20 && next < count; i++) lines += `line ${next++}\n`;
      if (lines !== '') socket.write(lines);
      if (next >= count) clearInterval(timer);
    }, 2);
    socket.on('close', () => clearInterval(timer));
  });
  return { ...server, heard, connections };
}

/** A peer that writes `total` bytes as fast as its connection takes them; `written` counts what the socket accepted. */
async function floodPeer(total: number): Promise<Peer & { readonly written: number }> {
  let written = 0;
  const peer = await streamServer((socket) => {
    const block = Buffer.alloc(64 * 1024, 0x61);
    const pump = (): void => {
      while (written < total) {
        written += block.length;
        if (!socket.write(block)) {
          socket.once('drain', pump);
          return;
        }
      }
    };
    socket.on('error', () => undefined);
    pump();
  });
  return { address: peer.address, close: peer.close, get written() { return written; } };
}

/** Each config text, written to bad.cfg in `folder`, stops websocksy with exit 1 and an error matching its pattern. */
async function assertConfigRefused(folder: string, cases: ReadonlyArray<readonly [string, RegExp]>): Promise<void> {
  for (const [text, expected] of cases) {
    const file = join(folder, 'bad.cfg');
    writeFileSync(file, text);
    const run = await runWebsocksy([file]);
    assert.equal(run.code, 1, run.stderr);
    assert.match(run.stderr, expected);
  }
}

/** Waits until the log has `count` detach lines for `session`. */
async function detachments(server: RunningWebsocksy, session: string, count: number): Promise<void> {
  const deadline = Date.now() + 5000;
  const seen = (): number => server.log().split('\n').filter((line) => line.includes('session detached') && line.includes(`session=${session}`)).length;
  while (seen() < count) {
    if (Date.now() > deadline) throw new Error(`no detach number ${count} of ${session}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

function lines(count: number): string {
  let text = '';
  for (let i = 0; i < count; i++) text += `line ${i}\n`;
  return text;
}

async function httpFetch(url: string, init: RequestInit = {}): Promise<{ status: number; body: Buffer }> {
  const response = await fetch(url, { ...init, signal: AbortSignal.timeout(40_000) });
  return { status: response.status, body: Buffer.from(await response.arrayBuffer()) };
}

/** A session opened over HTTP at `path` on `server`: its WELCOME, its URL (poll, send, DELETE) and its credential. */
async function openHttpSession(server: RunningWebsocksy, path: string): Promise<{ welcome: Welcome; base: string; auth: { Authorization: string } }> {
  const http = server.url.replace('ws://', 'http://');
  const opened = await httpFetch(`${http}${path}`, { method: 'POST', headers: { 'Websocksy-Session': 'open' } });
  assert.equal(opened.status, 200, opened.body.toString());
  const welcome = JSON.parse(opened.body.toString()) as Welcome;
  return { welcome, base: `${http}${welcome.path}/${welcome.session}`, auth: { Authorization: `Bearer ${welcome.secret ?? ''}` } };
}

describe('resumable sessions over WebSocket', () => {
  let echo: Peer;
  let server: RunningWebsocksy;
  let plainServer: RunningWebsocksy;

  before(async () => {
    echo = await tcpEcho();
    server = await startWebsocksy([...BASE_ARGS, '-c', `host=${echo.address}`, '-c', 'resumable=yes']);
    plainServer = await startWebsocksy([...BASE_ARGS, '-c', `host=${echo.address}`]);
  });

  after(async () => {
    await server.stop();
    await plainServer.stop();
    await echo.close();
  });

  test('a client that offers the subprotocol gets a WELCOME with id and secret, then records', async () => {
    const connection = await SessionConnection.open(server.url);
    const { welcome } = connection;
    assert.match(welcome.session, /^[\w-]{16}$/);
    assert.match(welcome.secret ?? '', /^[\w-]{22}$/);
    assert.equal(welcome.resumed, false);
    assert.equal(welcome.path, '/.websocksy/session');
    assert.equal(welcome.received, 0);
    connection.send(T.binary, 'hello');
    await connection.pump(() => connection.received >= 5);
    assert.equal(Buffer.concat(connection.data).toString(), 'hello');
    assert.doesNotMatch(server.log(), new RegExp(welcome.secret ?? 'no secret'), 'the secret is never logged');
    connection.send(T.end, JSON.stringify({ code: 1000, reason: '' }));
    const { code } = await connection.client.closed();
    assert.equal(code, 1000);
    await server.waitForLog(new RegExp(`session close .*session=${welcome.session}.*why="ended by the client"`));
  });

  test('a client that does not offer it gets the plain bridge; a peer not marked resumable too', async () => {
    const plain = await connect(server.url);
    assert.equal(plain.ws.protocol, '');
    plain.ws.send('raw');
    assert.equal((await plain.next()).data.toString(), 'raw');
    plain.ws.close();
    // `ws` fails a connection whose offered subprotocols were all declined; browsers accept it.
    const answer = await rawRequest(plainServer.port, upgradeRequest('/', [`Sec-WebSocket-Protocol: ${SESSION_PROTOCOL}`]));
    assert.equal(answer.status, 101);
    assert.equal(answer.headers.get('sec-websocket-protocol'), undefined, 'the subprotocol is not chosen for a peer that is not resumable');
  });

  test('the backend sees the application subprotocols only, and WELCOME names the one it chose', async () => {
    const chooser = await startWebsocksy([...BASE_ARGS, '-c', `host=${echo.address}`, '-c', 'resumable=yes', '-c', 'protocol=*']);
    try {
      const connection = await SessionConnection.open(chooser.url, ['mqtt']);
      assert.equal(connection.welcome.protocol, 'mqtt');
      connection.cut();
    } finally {
      await chooser.stop();
    }
  });

  test('the four refusals: bad HELLO, unknown session, wrong secret, attached without takeover; takeover ends the other socket', async () => {
    const connection = await SessionConnection.open(server.url);
    const { session, secret } = connection.welcome;
    const resumeUrl = `${server.url}${connection.welcome.path}`;
    const asText = await connect(resumeUrl, [SESSION_PROTOCOL]);
    asText.ws.send(JSON.stringify({ v: 1, session, secret, received: 0 }));
    assert.equal((await asText.closed()).code, 4400, 'records travel in binary messages');
    const badFirst = await SessionConnection.resume(resumeUrl, { v: 2, session, secret, received: 0 });
    assert.deepEqual(badFirst, { error: 'bad-hello', code: 4400 });
    const unknown = await SessionConnection.resume(resumeUrl, { v: 1, session: 'AAAAAAAAAAAAAAAA', secret, received: 0 });
    assert.deepEqual(unknown, { error: 'no-session', code: 4404 });
    const wrong = await SessionConnection.resume(resumeUrl, { v: 1, session, secret: 'x'.repeat(22), received: 0 });
    assert.deepEqual(wrong, { error: 'wrong-secret', code: 4403 });
    const attached = await SessionConnection.resume(resumeUrl, { v: 1, session, secret, received: 0 });
    assert.deepEqual(attached, { error: 'attached', code: 4409 });
    const tooFar = await SessionConnection.resume(resumeUrl, { v: 1, session, secret, received: 10, takeover: true });
    assert.deepEqual(tooFar, { error: 'bad-hello', code: 4400 }, 'a count the server never sent is refused');
    const taken = await SessionConnection.resume(resumeUrl, { v: 1, session, secret, received: 0, takeover: true });
    assert.ok(taken instanceof SessionConnection);
    assert.equal(taken.welcome.resumed, true);
    assert.equal(taken.welcome.secret, undefined, 'the secret is shown once');
    assert.equal((await connection.client.closed()).code, 4000);
    taken.send(T.binary, 'still here');
    await taken.pump(() => taken.received >= 10);
    assert.equal(Buffer.concat(taken.data).toString(), 'still here');
    taken.send(T.end, '{}');
    await taken.client.closed();
  });

  test('a session path upgrade without the subprotocol is refused with 400', async () => {
    await assert.rejects(connect(`${server.url}/.websocksy/session`), /HTTP 400/);
  });
});

describe('drop and resume', () => {
  test('a peer that keeps talking while the client is away: every byte arrives once, in order, both ways', async () => {
    const COUNT = 3000;
    const peer = await talkingPeer(COUNT);
    const server = await startWebsocksy([...BASE_ARGS, '-c', `host=${peer.address}`, '-c', 'resumable=yes']);
    try {
      let connection = await SessionConnection.open(server.url);
      const { session, secret, path } = connection.welcome;
      const resumeUrl = `${server.url}${path}`;
      const expected = lines(COUNT);
      const sent: string[] = [];
      let sentBytes = 0;
      let serverHas = 0;
      const data: Buffer[] = [];
      for (let round = 0; round < 6; round++) {
        // Some input that may or may not reach the server before the cut.
        for (let i = 0; i < 5; i++) {
          const text = `input ${round}.${i};`;
          sent.push(text);
          connection.send(T.text, text);
          sentBytes += text.length;
        }
        const target = Math.min(expected.length, connection.received + 2000);
        await connection.pump(() => connection.received >= target);
        connection.acknowledge();
        connection.cut();
        data.push(...connection.data);
        const received = connection.received;
        await detachments(server, session, round + 1);
        const resumed = await SessionConnection.resume(resumeUrl, { v: 1, session, secret, received, takeover: true });
        assert.ok(resumed instanceof SessionConnection, `round ${round}: ${JSON.stringify(resumed)}`);
        connection = resumed;
        serverHas = connection.welcome.received;
        assert.ok(serverHas <= sentBytes);
        // Resend what the server did not get, from its count on (whole messages).
        let offset = 0;
        for (const text of sent) {
          if (offset >= serverHas) connection.send(T.text, text);
          offset += text.length;
        }
      }
      await connection.pump(() => connection.received >= expected.length, 20_000);
      data.push(...connection.data);
      assert.equal(Buffer.concat(data).toString(), expected, 'the peer output arrived exactly once, in order');
      const deadline = Date.now() + 5000;
      while (Buffer.concat(peer.heard).length < sentBytes && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20));
      assert.equal(Buffer.concat(peer.heard).toString(), sent.join(''), 'the input arrived exactly once, in order');
      assert.equal(peer.connections.length, 1, 'one peer connection for the whole session');
      await server.waitForLog(/session resumed .*transport=websocket/);
      connection.cut();
    } finally {
      await server.stop();
      await peer.close();
    }
  });

  test('a resume with megabytes to replay sends them as the client takes them: more than uWS may queue at once', async () => {
    const TOTAL = 32 * 1024 * 1024;
    const pattern = Buffer.alloc(TOTAL);
    for (let i = 0; i < TOTAL; i++) pattern[i] = (i * 7 + (i >>> 13)) & 0xff;
    const bulk = await streamServer((socket) => {
      socket.on('error', () => undefined);
      socket.write(pattern);
    });
    // This client acknowledges nothing (the resume below asks for all of it again), so the session
    // keeps all 32 MiB plus 96 bytes per record. A peer paused for a full client queue resumes
    // only while that is under half of session-buffer: at 64m, a pause near the end (CI, under
    // load) held the last few KiB for the acknowledgement a real client would have sent.
    const server = await startWebsocksy([...BASE_ARGS, '-c', `host=${bulk.address}`, '-c', 'resumable=yes', '--session-buffer', '128m']);
    try {
      const first = await SessionConnection.open(server.url);
      await first.pump(() => first.received === TOTAL, 20_000);
      first.cut();
      const { session, secret, path } = first.welcome;
      await server.waitForLog(new RegExp(`session detached .*session=${session}`));
      const again = await SessionConnection.resume(`${server.url}${path}`, { v: 1, session, secret, received: 0 });
      assert.ok(again instanceof SessionConnection, JSON.stringify(again));
      await again.pump(() => again.received === TOTAL, 20_000);
      assert.ok(Buffer.concat(again.data).equals(pattern), 'the replay is the peer output, whole and in order');
      assert.doesNotMatch(server.log(), /internal error|overflow/);
      again.cut();
    } finally {
      await server.stop();
      await bulk.close();
    }
  });

  test('a client that does not return within the grace period: the session expires and its peer is closed', async () => {
    const peer = await talkingPeer(10);
    const server = await startWebsocksy([...BASE_ARGS, '-c', `host=${peer.address}`, '-c', 'resumable=yes', '--session-grace', '1']);
    try {
      const connection = await SessionConnection.open(server.url);
      const { session, secret, path } = connection.welcome;
      connection.cut();
      await server.waitForLog(new RegExp(`session expired .*session=${session}.*why="client did not return within 1 s"`), 5000);
      await server.waitForLog(new RegExp(`session close .*session=${session}.*why=expired`), 5000);
      const socket = peer.connections[0] as Socket;
      if (!socket.closed) await once(socket, 'close');
      const late = await SessionConnection.resume(`${server.url}${path}`, { v: 1, session, secret, received: 0 });
      assert.deepEqual(late, { error: 'no-session', code: 4404 });
    } finally {
      await server.stop();
      await peer.close();
    }
  });

  test('a detached session whose peer keeps talking stays inside session-buffer: the peer is paused', async () => {
    const dir = tempDir();
    const flood = await floodPeer(64 * 1024 * 1024);
    const config = join(dir.path, 'websocksy.cfg');
    writeFileSync(config, `[core]\nlisten = 127.0.0.1\nport = 0\nping = 0\nsession-buffer = 128k\n[backend]\nhost = ${flood.address}\nresumable = yes\n[status]\npath = /.status\nclients = loopback\n`);
    const server = await startWebsocksy([config]);
    try {
      const connection = await SessionConnection.open(server.url);
      connection.cut();
      await server.waitForLog(/session detached/);
      await new Promise((resolve) => setTimeout(resolve, 1000));
      const writtenThen = flood.written;
      await new Promise((resolve) => setTimeout(resolve, 500));
      assert.equal(flood.written, writtenThen, 'the peer is held by backpressure');
      assert.ok(flood.written < 16 * 1024 * 1024, `the peer wrote ${flood.written} bytes: only socket buffers and the session bound can hold them`);
      const status = (await (await fetch(`${server.url.replace('ws', 'http')}/.status`)).json()) as { sessions: Array<{ buffered: number; peerPaused: boolean; state: string }> };
      const [only] = status.sessions;
      assert.ok(only !== undefined);
      assert.equal(only.state, 'detached');
      assert.equal(only.peerPaused, true);
      assert.ok(only.buffered <= 128 * 1024 + 64 * 1024, `buffered ${only.buffered}`);
    } finally {
      await server.stop();
      await flood.close();
      dir.remove();
    }
  });
});

describe('a resume that replays a large session-buffer', () => {
  test('is delivered whole, not dropped by uWS with an internal error (found while writing the session fuzzer)', async () => {
    // Once: the replay went to uWS at once, past the resume socket's maxBackpressure (the bridge's,
    // ~2.3 MiB): the message was dropped, the guard logged an internal error and closed with 1011.
    const flood = await floodPeer(32 * 1024 * 1024);
    const server = await startWebsocksy([...BASE_ARGS, '-c', `host=${flood.address}`, '-c', 'resumable=yes', '--session-buffer', '16m']);
    try {
      const connection = await SessionConnection.open(server.url);
      const { session, secret, path } = connection.welcome;
      connection.cut();
      await server.waitForLog(/session detached/);
      // The peer fills the detached session up to its buffer, then it is paused and stops writing.
      const deadline = Date.now() + 10_000;
      for (let before = -1; flood.written !== before && Date.now() < deadline; ) {
        before = flood.written;
        await new Promise((resolve) => setTimeout(resolve, 300));
      }
      const resumed = await SessionConnection.resume(`${server.url}${path}`, { v: 1, session, secret, received: 0, takeover: true });
      assert.ok(resumed instanceof SessionConnection, JSON.stringify(resumed));
      const replay = Number(/replay=(\d+)/.exec(await server.waitForLog(/session resumed .*replay=\d+/))?.[1]);
      // Well past the ~2.3 MiB uWS may queue on this socket (session-buffer counts bookkeeping too).
      assert.ok(replay > 8 * 1024 * 1024, `a replay of ${replay} bytes`);
      await resumed.pump(() => resumed.received >= replay, 20_000);
      assert.doesNotMatch(server.log(), /internal error/);
      resumed.send(T.end, '{}');
      assert.equal((await resumed.client.closed()).code, 1000);
    } finally {
      await server.stop();
      await flood.close();
    }
  });
});

describe('the HTTP transport', () => {
  test('open with POST, poll and send, switch to WebSocket and back, end with DELETE', async () => {
    const echo = await tcpEcho();
    const server = await startWebsocksy([...BASE_ARGS, '-c', `host=${echo.address}`, '-c', 'resumable=yes']);
    try {
      const { welcome, base, auth } = await openHttpSession(server, '/chat?room=1');
      const wrong = await httpFetch(`${base}/poll?received=0&wait=0`, { headers: { Authorization: 'Bearer nope' } });
      assert.equal(wrong.status, 403);
      const sent = await httpFetch(`${base}/send?offset=0`, { method: 'POST', headers: auth, body: Buffer.concat([httpRecord(T.text, 'ping '), httpRecord(T.binary, 'one')]) });
      assert.equal(sent.status, 200);
      assert.equal(ackValue(httpRecords(sent.body)[0]?.body ?? Buffer.alloc(8)), 8);
      const retried = await httpFetch(`${base}/send?offset=0`, { method: 'POST', headers: auth, body: Buffer.concat([httpRecord(T.text, 'ping '), httpRecord(T.binary, 'one')]) });
      assert.equal(ackValue(httpRecords(retried.body)[0]?.body ?? Buffer.alloc(8)), 8, 'a retried POST is not taken twice');
      // A message that starts inside what the session has and runs past it: the POST is refused whole.
      const spanning = await httpFetch(`${base}/send?offset=6`, { method: 'POST', headers: auth, body: httpRecord(T.binary, 'nex') });
      assert.equal(spanning.status, 400, spanning.body.toString());
      assert.match(spanning.body.toString(), /offset 6 does not continue the session's count \(8\)/);
      let received = 0;
      let output = '';
      for (let i = 0; i < 20 && output.length < 8; i++) {
        const poll = await httpFetch(`${base}/poll?received=${received}&wait=5`, { headers: auth });
        assert.equal(poll.status, 200);
        for (const { type, body } of httpRecords(poll.body)) {
          if (type === T.binary || type === T.text) {
            output += body.toString();
            received += body.length;
          }
        }
      }
      assert.equal(output, 'ping one');
      // Over to WebSocket: the poller is attached, so takeover.
      const resumeUrl = `${server.url}${welcome.path}`;
      const ws = await SessionConnection.resume(resumeUrl, { v: 1, session: welcome.session, secret: welcome.secret, received, takeover: true });
      assert.ok(ws instanceof SessionConnection);
      assert.equal(ws.welcome.received, 8);
      ws.send(T.text, 'two');
      await ws.pump(() => ws.received >= received + 3);
      assert.equal(Buffer.concat(ws.data).toString(), 'two');
      // And back: a poll while the WebSocket is attached needs takeover.
      const refused = await httpFetch(`${base}/poll?received=${ws.received}&wait=0`, { headers: auth });
      assert.equal(refused.status, 409);
      const back = await httpFetch(`${base}/poll?received=${ws.received}&wait=0`, { headers: { ...auth, 'Websocksy-Takeover': '1' } });
      assert.equal(back.status, 200);
      assert.equal((await ws.client.closed()).code, 4000);
      const ended = await httpFetch(base, { method: 'DELETE', headers: auth });
      assert.equal(ended.status, 200);
      const gone = await httpFetch(`${base}/poll?received=0&wait=0`, { headers: auth });
      assert.equal(gone.status, 404);
      await server.waitForLog(new RegExp(`session close .*session=${welcome.session}.*to_peer=11 `));
    } finally {
      await server.stop();
      await echo.close();
    }
  });

  test('a POST still being read when a WebSocket takes over: its data reaches the peer once, the resend over the WebSocket skipped', async () => {
    // Seen once in CI as bytes out of order at the peer while websocksy/client switched
    // transports through cuts (client-sessions.test.ts): the WebSocket's records carry no
    // offset, and the server took them as following whatever a late POST had added.
    const echo = await tcpEcho();
    const server = await startWebsocksy([...BASE_ARGS, '-c', `host=${echo.address}`, '-c', 'resumable=yes']);
    try {
      const { welcome, base, auth } = await openHttpSession(server, '/chat');
      assert.equal((await httpFetch(`${base}/send?offset=0`, { method: 'POST', headers: auth, body: httpRecord(T.binary, 'ping ') })).status, 200);
      // A POST of the next bytes whose body is still on its way at the takeover.
      const late = tcpConnect(server.port, '127.0.0.1');
      await once(late, 'connect');
      const body = httpRecord(T.binary, 'AAA');
      let answer = '';
      late.on('data', (chunk: Buffer) => (answer += chunk.toString('latin1')));
      late.write(`POST ${welcome.path}/${welcome.session}/send?offset=5 HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${welcome.secret ?? ''}\r\nContent-Length: ${body.length}\r\n\r\n`);
      late.write(body.subarray(0, 2));
      await sleep(200);
      const ws = await SessionConnection.resume(`${server.url}${welcome.path}`, { v: 1, session: welcome.session, secret: welcome.secret, received: 0, takeover: true });
      assert.ok(ws instanceof SessionConnection, JSON.stringify(ws));
      assert.equal(ws.welcome.received, 5);
      // The late body lands after the takeover, before the WebSocket resends what it had not seen acknowledged.
      late.write(body.subarray(2));
      await until(() => answer.startsWith('HTTP/1.1 200'), 5000, () => `the late POST got ${JSON.stringify(answer.slice(0, 40))}`);
      ws.send(T.binary, 'AAA');
      ws.send(T.binary, 'BBB');
      await ws.pump(() => ws.received >= 11);
      assert.equal(Buffer.concat(ws.data).toString(), 'ping AAABBB', 'the peer got each byte once, in order');
      late.destroy();
      ws.send(T.end, '{}');
      await server.waitForLog(new RegExp(`session close .*session=${welcome.session}.*to_peer=11 `));
    } finally {
      await server.stop();
      await echo.close();
    }
  });

  test('a POST refused for one malformed record takes none of its records (found by make fuzz)', async () => {
    // Once: the records before the malformed one reached the peer, though the answer was 400.
    const echo = await tcpEcho();
    const server = await startWebsocksy([...BASE_ARGS, '-c', `host=${echo.address}`, '-c', 'resumable=yes']);
    try {
      const { welcome, base, auth } = await openHttpSession(server, '/x');
      const send = `${base}/send?offset=0`;
      const count = async (): Promise<number> => {
        const answer = await httpFetch(send, { method: 'POST', headers: auth });
        assert.equal(answer.status, 200);
        return ackValue(httpRecords(answer.body)[0]?.body ?? Buffer.alloc(8));
      };
      const good = httpRecord(T.text, 'taken?');
      for (const broken of [
        httpRecord(T.text, 'abc').subarray(0, 3),
        httpRecord(T.binary, 'abcdef').subarray(0, 8),
        httpRecord(T.hello, '{"v":1}'),
        httpRecord(T.ack, Buffer.from([0, 0, 0, 1, 0, 0, 0, 0])),
        httpRecord(T.ack, Buffer.alloc(7)),
      ]) {
        const refused = await httpFetch(send, { method: 'POST', headers: auth, body: Buffer.concat([good, broken]) });
        assert.equal(refused.status, 400, broken.toString('hex'));
        assert.equal(await count(), 0, `nothing of a refused body is taken (${broken.toString('hex')})`);
      }
      const taken = await httpFetch(send, { method: 'POST', headers: auth, body: Buffer.concat([good, httpRecord(T.ack, Buffer.alloc(8))]) });
      assert.equal(taken.status, 200);
      assert.equal(await count(), 6);
      await httpFetch(base, { method: 'DELETE', headers: auth });
      await server.waitForLog(new RegExp(`session close .*session=${welcome.session}.*to_peer=6 `));
    } finally {
      await server.stop();
      await echo.close();
    }
  });

  test('a peer that is not resumable cannot be opened over HTTP; malformed requests get clear statuses', async () => {
    const echo = await tcpEcho();
    const server = await startWebsocksy([...BASE_ARGS, '-c', `host=${echo.address}`]);
    const http = server.url.replace('ws://', 'http://');
    try {
      const refused = await httpFetch(`${http}/x`, { method: 'POST', headers: { 'Websocksy-Session': 'open' } });
      assert.equal(refused.status, 409);
      const unknown = await httpFetch(`${http}/.websocksy/session/AAAAAAAAAAAAAAAA/poll?received=0`, { headers: { Authorization: 'Bearer x' } });
      assert.equal(unknown.status, 404);
      const nonsense = await httpFetch(`${http}/.websocksy/session/x/y/z`);
      assert.equal(nonsense.status, 404);
    } finally {
      await server.stop();
      await echo.close();
    }
  });
});

describe('acknowledgements', () => {
  test('the server acknowledges client data, and an ACK beyond what was sent is a protocol error', async () => {
    const echo = await tcpEcho();
    const server = await startWebsocksy([...BASE_ARGS, '-c', `host=${echo.address}`, '-c', 'resumable=yes']);
    try {
      const connection = await SessionConnection.open(server.url);
      connection.send(T.binary, Buffer.alloc(1000));
      await connection.pump(() => connection.acks.includes(1000) && connection.received >= 1000);
      connection.client.ws.send(ack(5000));
      assert.equal((await connection.client.closed()).code, 4400);
      await server.waitForLog(/session detached .*why="protocol error: ACK of 5000/);
    } finally {
      await server.stop();
      await echo.close();
    }
  });
});

describe('websocksy status', () => {
  test('lists sessions and connections of a running websocksy; bad URLs and dead servers get clear errors', async () => {
    const dir = tempDir();
    const echo = await tcpEcho();
    const config = join(dir.path, 'websocksy.cfg');
    writeFileSync(config, `[core]\nlisten = 127.0.0.1\nport = 0\nping = 0\n[backend]\nhost = ${echo.address}\nresumable = yes\n[status]\npath = /.status\ntoken-file = status-token\n`);
    writeFileSync(join(dir.path, 'status-token'), 'a-status-token\n');
    const server = await startWebsocksy([config]);
    try {
      const attached = await SessionConnection.open(server.url);
      const detached = await SessionConnection.open(server.url);
      detached.cut();
      await server.waitForLog(new RegExp(`session detached .*session=${detached.welcome.session}`));
      const plain = await connect(`${server.url}/plain`);
      const url = `${server.url.replace('ws://', 'http://')}/.status`;
      const refused = await runWebsocksy(['status', url]);
      assert.equal(refused.code, 1);
      assert.match(refused.stderr, /answered 401: Unauthorized \(give the status token: --token-file FILE or WEBSOCKSY_STATUS_TOKEN\)/);
      const shown = await runWebsocksy(['status', url, '--token-file', join(dir.path, 'status-token')]);
      assert.equal(shown.code, 0, shown.stderr);
      assert.match(shown.stdout, /^sessions: 2$/m);
      assert.match(shown.stdout, new RegExp(`${attached.welcome.session} +attached +websocket`));
      assert.match(shown.stdout, new RegExp(`${detached.welcome.session} +detached +- `));
      assert.match(shown.stdout, /^connections: 1$/m);
      assert.match(shown.stdout, / \/plain /);
      const json = await runWebsocksy(['status', url, '--json'], undefined, { WEBSOCKSY_STATUS_TOKEN: 'a-status-token' });
      assert.equal((JSON.parse(json.stdout) as { sessions: unknown[] }).sessions.length, 2);
      const bad = await runWebsocksy(['status', 'ftp://x']);
      assert.equal(bad.code, 2);
      assert.match(bad.stderr, /over http or https/);
      plain.ws.close();
      attached.cut();
    } finally {
      await server.stop();
      await echo.close();
      dir.remove();
    }
    const port = await freePort();
    const dead = await runWebsocksy(['status', `http://127.0.0.1:${port}/.status`]);
    assert.equal(dead.code, 1);
    assert.match(dead.stderr, new RegExp(`cannot fetch http://127\\.0\\.0\\.1:${port}/\\.status: .*ECONNREFUSED`));
  });
});

describe('curl as the HTTP gateway socketproxy was built for', { skip: SKIP_WITHOUT_CURL }, () => {
  const bytes = async (args: readonly string[]): Promise<Buffer> => (await curl(['--fail-with-body', ...args], 20)).stdout;

  test('a line service driven by short requests: open, send, poll, keep going across many requests, end', async () => {
    const dir = tempDir();
    const service = await streamServer((socket) => {
      socket.write('welcome to the line service\n');
      let pending = '';
      socket.on('data', (chunk: Buffer) => {
        pending += chunk.toString();
        let newline: number;
        while ((newline = pending.indexOf('\n')) >= 0) {
          socket.write(`you said: ${pending.slice(0, newline)}\n`);
          pending = pending.slice(newline + 1);
        }
      });
    });
    const server = await startWebsocksy([...BASE_ARGS, '-c', `host=${service.address}`, '-c', 'framing=newline', '-c', 'framing-config=lf', '-c', 'resumable=yes']);
    const http = `http://127.0.0.1:${server.port}`;
    try {
      const welcome = JSON.parse((await bytes(['-X', 'POST', '-H', 'Websocksy-Session: open', `${http}/telnet`])).toString()) as Welcome;
      const base = `${http}${welcome.path}/${welcome.session}`;
      const auth = ['-H', `Authorization: Bearer ${welcome.secret ?? ''}`];
      let received = 0;
      let sentBytes = 0;
      let transcript = '';
      const poll = async (): Promise<void> => {
        const body = await bytes([...auth, `${base}/poll?received=${received}&wait=2`]);
        for (const { type, body: data } of httpRecords(body)) {
          if (type !== T.text && type !== T.binary) continue;
          transcript += data.toString();
          received += data.length;
        }
      };
      const say = async (line: string): Promise<void> => {
        const file = join(dir.path, 'body');
        writeFileSync(file, httpRecord(T.text, `${line}\n`));
        const answer = httpRecords(await bytes([...auth, '--data-binary', `@${file}`, '-H', 'Content-Type: application/octet-stream', `${base}/send?offset=${sentBytes}`]));
        sentBytes += line.length + 1;
        assert.equal(answer[0]?.type, T.ack);
      };
      for (let i = 0; i < 10; i++) {
        await say(`command ${i}`);
        const deadline = Date.now() + 5000;
        while (!transcript.includes(`you said: command ${i}`) && Date.now() < deadline) await poll();
      }
      let expected = 'welcome to the line service\n';
      for (let i = 0; i < 10; i++) expected += `you said: command ${i}\n`;
      assert.equal(transcript, expected, 'newline framing: each line one message, in order, once');
      await bytes(['-X', 'DELETE', ...auth, base]);
      await server.waitForLog(new RegExp(`session close .*session=${welcome.session}.*why="ended by the client"`));
      await assert.rejects(bytes([...auth, `${base}/poll?received=${received}&wait=0`]), /404/);
    } finally {
      await server.stop();
      await service.close();
      dir.remove();
    }
  });
});

describe('who marks a peer resumable', () => {
  test('a file-backend line ending in ?resumable; the line without it stays a plain bridge', async () => {
    const dir = tempDir();
    const echo = await tcpEcho();
    writeFileSync(join(dir.path, 'kept.txt'), `${echo.address}?resumable * binary\n`);
    writeFileSync(join(dir.path, 'plain.txt'), `${echo.address} * binary\n`);
    const server = await startWebsocksy([...BASE_ARGS, '--allow-peers', 'tcp:127.0.0.1:*', '-b', 'file', '-c', `path=${dir.path}`, '-c', 'expression=%endpoint%.txt']);
    try {
      const kept = await SessionConnection.open(`${server.url}/kept`);
      kept.send(T.binary, 'x');
      await kept.pump(() => kept.received === 1);
      kept.cut();
      const answer = await rawRequest(server.port, upgradeRequest('/plain', [`Sec-WebSocket-Protocol: ${SESSION_PROTOCOL}`]));
      assert.equal(answer.status, 101);
      assert.equal(answer.headers.get('sec-websocket-protocol'), undefined);
    } finally {
      await server.stop();
      await echo.close();
      dir.remove();
    }
  });

  test("a JS backend's answer: resumable: true makes a session, a resumable that is not a boolean is refused with 502", () => {
    assert.deepEqual(checkedAnswer({ host: 'tcp://h:1', resumable: true }, 'js'), { host: 'tcp://h:1', resumable: true });
    assert.throws(() => checkedAnswer({ host: 'tcp://h:1', resumable: 'yes' }, 'js'), (error: unknown) => error instanceof Refusal && error.status === 502 && /resumable yes, not a boolean/.test(error.detail));
  });
});

describe('a [route /prefix] peer = ADDRESS', () => {
  test('bridges upgrades on its prefix to its peer, resumable when it says so, over WebSocket and HTTP; the bridge keeps the rest', async () => {
    const dir = tempDir();
    const routed = await streamServer((socket) => socket.on('data', (chunk: Buffer) => socket.write(Buffer.concat([Buffer.from('routed:'), chunk]))));
    const echo = await tcpEcho();
    const config = join(dir.path, 'websocksy.cfg');
    writeFileSync(config, `[core]\nlisten = 127.0.0.1\nport = 0\nping = 0\n[backend]\nhost = ${echo.address}\n[route /term]\npeer = ${routed.address}\nresumable = yes\n`);
    const server = await startWebsocksy([config]);
    try {
      const session = await SessionConnection.open(`${server.url}/term/room`);
      session.send(T.binary, 'hi');
      await session.pump(() => session.received >= 9);
      assert.equal(Buffer.concat(session.data).toString(), 'routed:hi');
      session.cut();
      await server.waitForLog(new RegExp(`session detached .*session=${session.welcome.session}`));
      const resumed = await SessionConnection.resume(`${server.url}${session.welcome.path}`, { v: 1, session: session.welcome.session, secret: session.welcome.secret, received: 9 });
      assert.ok(resumed instanceof SessionConnection);
      resumed.send(T.end, '{}');
      await resumed.client.closed();
      const plain = await connect(`${server.url}/term`);
      plain.ws.send('x');
      assert.equal((await plain.next()).data.toString(), 'routed:x');
      plain.ws.close();
      const elsewhere = await connect(`${server.url}/other`);
      elsewhere.ws.send('x');
      assert.equal((await elsewhere.next()).data.toString(), 'x', 'other paths stay the bridge\'s');
      elsewhere.ws.close();
      const { welcome } = await openHttpSession(server, '/term');
      assert.equal(welcome.path, '/.websocksy/session');
      const plainGet = await httpFetch(`${server.url.replace('ws://', 'http://')}/term`);
      assert.equal(plainGet.status, 426);
    } finally {
      await server.stop();
      await routed.close();
      await echo.close();
      dir.remove();
    }
  });

  test('config errors name the line: resumable without a peer, a peer without a port or scheme, a peer route at /', async () => {
    const dir = tempDir();
    try {
      const cases: Array<[string, RegExp]> = [
        ['[route /a]\nstatic = .\nresumable = yes\n', /bad\.cfg:3 \[route \/a\]: resumable: only a route with "peer = ADDRESS" sets it/],
        ['[route /a]\npeer = tcp://127.0.0.1\n', /bad\.cfg:2 \[route \/a\]: peer: no port for peer address "tcp:\/\/127\.0\.0\.1"/],
        ['[route /a]\npeer = 127.0.0.1:22\n', /bad\.cfg:2 \[route \/a\]: peer: "127\.0\.0\.1:22" has no scheme/],
        ['[route /]\npeer = tcp://127.0.0.1:22\n', /a peer route needs a prefix other than \//],
      ];
      await assertConfigRefused(dir.path, cases);
    } finally {
      dir.remove();
    }
  });
});

describe('the session path', () => {
  test('a route that would take it, or the tunnel path, is a start-up error naming session-path', async () => {
    const dir = tempDir();
    try {
      const cases: Array<[string, RegExp]> = [
        ['[route /.websocksy]\nstatic = .\n', /session-path \/\.websocksy\/session lies in \[route \/\.websocksy\]/],
        ['[core]\nsession-path = /.tunnel\n[tunnel]\nidentities = ids\n', /bad\.cfg:2 \[core\]: session-path \/\.tunnel is the tunnel or status path/],
      ];
      writeFileSync(join(dir.path, 'ids'), 'someone 0123456789abcdef0123456789abcdef\n');
      await assertConfigRefused(dir.path, cases);
    } finally {
      dir.remove();
    }
  });
});
