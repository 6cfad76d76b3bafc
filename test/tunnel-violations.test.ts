/*
 * Protocol violations a tunnel client may commit against a real websocksy server, frame by frame
 * on a raw WebSocket: each one costs only the connection that committed it, with a reason that
 * names it in the close and in the log, while another session's stream goes on. A violation that
 * concerns one stream resets that stream alone. A client that opens streams to an address that
 * never answers and drops its sessions leaves no dial behind them. A resume whose stream state
 * no session could have is refused, and the session it named waits on.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { decodeControl, decodeFrame, encodeData, encodeEmpty, encodeJson, FrameType, TUNNEL_SUBPROTOCOL } from '../src/tunnel/protocol.js';
import { blackhole, skipWithoutPython } from './helpers/blackhole.js';
import { connect, type TestClient } from './helpers/client.js';
import { tcpEcho, tempDir, type Peer } from './helpers/peers.js';
import { openDescriptors } from './helpers/process-figures.js';
import { startTunnelServer } from './helpers/tunnel.js';
import type { RunningWebsocksy } from './helpers/websocksy.js';

const TOKEN = 'violations-token';
const HELLO = { type: 'hello', version: 1, name: 'alice', token: TOKEN };

async function tunnelSocket(server: RunningWebsocksy): Promise<TestClient> {
  return connect(`${server.url}/.tunnel`, TUNNEL_SUBPROTOCOL);
}

/** A session with stream 1 open to the echo peer, proven by one round trip. */
async function sessionWithEcho(server: RunningWebsocksy, echoPort: number): Promise<TestClient> {
  const client = await tunnelSocket(server);
  client.ws.send(encodeJson(FrameType.control, 0, HELLO));
  assert.equal(decodeControl(decodeFrame((await client.next()).data).body).type, 'welcome');
  client.ws.send(encodeJson(FrameType.open, 1, { host: '127.0.0.1', port: echoPort }));
  assert.equal(decodeFrame((await client.next()).data).type, FrameType.accept);
  await echoes(client, 'first');
  return client;
}

/** Sends `text` on stream 1 and waits for the echo (credit frames may come between). */
async function echoes(client: TestClient, text: string): Promise<void> {
  client.ws.send(encodeData(1, Buffer.from(text)));
  for (;;) {
    const frame = decodeFrame((await client.next()).data);
    if (frame.type === FrameType.data) {
      assert.equal(frame.body.toString(), text);
      return;
    }
  }
}

describe('tunnel protocol violations', () => {
  const dir = tempDir('websocksy-tunnel-violations-');
  let server: RunningWebsocksy;
  let echo: Peer;
  let echoPort = 0;

  before(async () => {
    echo = await tcpEcho();
    echoPort = Number(echo.address.split(':').at(-1));
    server = await startTunnelServer(dir.path, `alice ${TOKEN} connect=127.0.0.1:${echoPort}\n`, 'max-sessions = 8\n');
  });

  after(async () => {
    await server.stop();
    await echo.close();
    dir.remove();
  });

  test('a text message is refused before the hello, and detaches its session after it; a neighbour session goes on', async () => {
    const neighbour = await sessionWithEcho(server, echoPort);

    // A hello that would be welcome, in a text message.
    const early = await tunnelSocket(server);
    early.ws.send(encodeJson(FrameType.control, 0, HELLO).toString('latin1'));
    const refusal = decodeControl(decodeFrame((await early.next()).data).body);
    assert.deepEqual(refusal, { type: 'refuse', reason: 'protocol error: a text message, where every tunnel frame is binary' });
    assert.equal((await early.closed()).code, 4000);

    // A PING, in a text message, on a session with a stream.
    const late = await sessionWithEcho(server, echoPort);
    late.ws.send(encodeEmpty(FrameType.ping, 0).toString('latin1'));
    assert.deepEqual(await late.closed(), { code: 4000, reason: 'protocol error: a text message, where every tunnel frame is binary' });
    await server.waitForLog(/tunnel detached .*why="protocol error: a text message, where every tunnel frame is binary"/u);

    await echoes(neighbour, 'still here');
    neighbour.ws.close();
  });

  test('an ACCEPT of a stream the client itself opened resets that stream, instead of wedging it', async () => {
    const neighbour = await sessionWithEcho(server, echoPort);
    const client = await tunnelSocket(server);
    client.ws.send(encodeJson(FrameType.control, 0, HELLO));
    assert.equal(decodeControl(decodeFrame((await client.next()).data).body).type, 'welcome');
    // In one breath: the server is still dialling when the ACCEPT comes.
    client.ws.send(encodeJson(FrameType.open, 1, { host: '127.0.0.1', port: echoPort }));
    client.ws.send(encodeEmpty(FrameType.accept, 1));
    const reason = 'ACCEPT of stream 1, which the other side opened';
    for (;;) {
      const frame = decodeFrame((await client.next()).data);
      if (frame.type === FrameType.reset) {
        assert.deepEqual({ stream: frame.stream, reason: frame.body.toString() }, { stream: 1, reason });
        break;
      }
    }
    await server.waitForLog(new RegExp(`stream reset .*stream=1 .*why="${reason}"`, 'u'));
    client.ws.close();
    await echoes(neighbour, 'still here');
    neighbour.ws.close();
  });
});

describe('resume states out of shape', () => {
  const dir = tempDir('websocksy-tunnel-resume-');
  let server: RunningWebsocksy;

  before(async () => {
    server = await startTunnelServer(dir.path, `alice ${TOKEN} connect=127.0.0.1:9\n`);
  });

  after(async () => {
    await server.stop();
    dir.remove();
  });

  test('a count below zero, a fraction, more consumed than received or a stream id out of range is refused as malformed; the session still resumes after', async () => {
    const first = await tunnelSocket(server);
    first.ws.send(encodeJson(FrameType.control, 0, HELLO));
    const welcome = decodeControl(decodeFrame((await first.next()).data).body) as unknown as Record<string, unknown>;
    first.ws.close();
    await server.waitForLog(/tunnel detached /u);
    const resumeWith = async (state: unknown): Promise<Record<string, unknown>> => {
      const client = await tunnelSocket(server);
      client.ws.send(encodeJson(FrameType.control, 0, { ...HELLO, resume: { id: welcome['session'], secret: welcome['secret'], state } }));
      const answer = decodeControl(decodeFrame((await client.next()).data).body) as unknown as Record<string, unknown>;
      client.ws.close();
      await client.closed();
      return answer;
    };
    const bad = [
      { seen: 0, streams: [{ id: 1, received: -5, consumed: -5 }] },
      { seen: 0, streams: [{ id: 1, received: 1.5, consumed: 0 }] },
      { seen: 0, streams: [{ id: 1, received: 3, consumed: 4 }] },
      { seen: 0, streams: [{ id: 2 ** 32, received: 0, consumed: 0 }] },
      { seen: -1, streams: [] },
    ];
    for (const state of bad) assert.deepEqual(await resumeWith(state), { type: 'refuse', reason: 'malformed resume state' }, JSON.stringify(state));
    const resumed = await resumeWith({ seen: 0, streams: [] });
    assert.deepEqual([resumed['type'], resumed['resumed']], ['welcome', true]);
  });
});

describe('streams that end while the server dials them', () => {
  test('abort the dial: sessions dropped with their streams still connecting leave no socket behind', { timeout: 60_000 }, async (t) => {
    const hole = await blackhole();
    if (hole === null) return skipWithoutPython(t);
    const dir = tempDir('websocksy-tunnel-dials-');
    // One session per identity: each new one ends the one before, detached, and resets its streams.
    const server = await startTunnelServer(dir.path, `alice ${TOKEN} connect=127.0.0.1:${hole.port}\n`, 'max-sessions = 1\ngrace = 30\n');
    const pid = server.process.pid;
    assert.ok(pid !== undefined);
    const STREAMS = 64;
    const SESSIONS = 5;
    try {
      const before = openDescriptors(pid);
      for (let session = 0; session < SESSIONS; session++) {
        const client = await tunnelSocket(server);
        client.ws.send(encodeJson(FrameType.control, 0, HELLO));
        assert.equal(decodeControl(decodeFrame((await client.next()).data).body).type, 'welcome');
        for (let i = 0; i < STREAMS; i++) client.ws.send(encodeJson(FrameType.open, 2 * i + 1, { host: '127.0.0.1', port: hole.port }));
        client.ws.terminate();
        await server.waitForLog(new RegExp(`(tunnel detached identity=alice[^]*){${session + 1}}`, 'u'));
      }
      await server.waitForLog(new RegExp(`(session replaced identity=alice[^]*){${SESSIONS - 1}}`, 'u'));
      // The last session waits out its grace with its streams still dialling; the others' dials are gone.
      const grown = openDescriptors(pid) - before;
      assert.ok(grown <= STREAMS + 8, `${grown} more descriptors after ${SESSIONS} sessions of ${STREAMS} dials (the dial deadline is 10 s)`);
      assert.doesNotMatch(server.log(), /stream refused .*abandoned/u);
    } finally {
      await server.stop();
      hole.close();
      dir.remove();
    }
  });
});
