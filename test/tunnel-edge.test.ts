/*
 * The tunnel's edges, with real websocksy processes: sockets that never say hello, how many may
 * wait for theirs, sessions per identity, a client pointed at the bridge's path by mistake,
 * send-then-close through both kinds of forward with slow readers, a raw client whose data and
 * close frames arrive in one TCP write, connections waiting for a tunnel that never comes,
 * 2 MB bodies through an HTTP route over a tunnel with a window larger than a frame, and
 * streams ended and reset in one breath, which must leave no descriptor behind.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { once } from 'node:events';
import { createServer, type Server, type Socket } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { decodeControl, decodeFrame, encodeEmpty, encodeJson, encodeText, FrameType, TUNNEL_SUBPROTOCOL } from '../src/tunnel/protocol.js';
import { connect, type TestClient } from './helpers/client.js';
import { patternHash, send, startUpstream, type Upstream } from './helpers/http-upstream.js';
import { core, freePort, startInstance, tunnelSection, upstreamSection } from './helpers/instances.js';
import { tcpEcho, tempDir } from './helpers/peers.js';
import { openDescriptors } from './helpers/process-figures.js';
import { closeFrame, clientFrame, OPCODE, RawWebSocket } from './helpers/raw-ws.js';
import { until } from './helpers/session-client.js';
import { dial, fetchStatus, pattern, startForward, startTunnelServer } from './helpers/tunnel.js';
import { runWebsocksy, startWebsocksy, type RunningWebsocksy } from './helpers/websocksy.js';

const TOKEN = 'edge-token-do-not-log';
/** More than loopback's socket buffers hold, so that a slow reader leaves bytes queued in Node when the FIN comes. */
const SEND_THEN_CLOSE_BYTES = 24 * 1024 * 1024;

/** A WebSocket on the tunnel path that says hello as `name`; resolves once welcomed. */
async function helloClient(port: number, name: string, token: string): Promise<TestClient> {
  const client = await connect(`ws://127.0.0.1:${port}/.tunnel`, TUNNEL_SUBPROTOCOL);
  client.ws.send(encodeJson(FrameType.control, 0, { type: 'hello', version: 1, name, token }));
  const answer = decodeControl(decodeFrame((await client.next()).data).body);
  assert.equal(answer.type, 'welcome', JSON.stringify(answer));
  return client;
}

/** Says hello as alice on a raw tunnel WebSocket; resolves once welcomed. */
async function rawHello(ws: RawWebSocket): Promise<void> {
  ws.write(clientFrame(OPCODE.binary, encodeJson(FrameType.control, 0, { type: 'hello', version: 1, name: 'alice', token: TOKEN })));
  assert.equal(decodeControl(decodeFrame((await ws.next()).payload).body).type, 'welcome');
}

/** Opens stream `id` to 127.0.0.1:`port` on a raw tunnel WebSocket; resolves once the server accepts it. */
async function rawOpen(ws: RawWebSocket, id: number, port: number): Promise<void> {
  ws.write(clientFrame(OPCODE.binary, encodeJson(FrameType.open, id, { host: '127.0.0.1', port })));
  for (;;) {
    const frame = decodeFrame((await ws.next()).payload);
    if (frame.type === FrameType.accept && frame.stream === id) return;
  }
}

/** A TCP server whose connections each send `total` bytes and end at once, and read slowly. */
async function slowExchangeServer(total: number): Promise<{ port: number; server: Server; results: Array<Promise<{ bytes: number; sha256: string }>> }> {
  const results: Array<Promise<{ bytes: number; sha256: string }>> = [];
  const server = createServer({ allowHalfOpen: true }, (socket) => {
    results.push(slowRead(socket));
    sendAndEnd(socket, total);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return { port: (server.address() as { port: number }).port, server, results };
}

/** Writes `total` pattern bytes in one go (no waiting for drain) and ends at once. */
function sendAndEnd(socket: Socket, total: number): string {
  const block = pattern(5);
  const hash = createHash('sha256');
  for (let sent = 0; sent < total; ) {
    const chunk = block.subarray(0, Math.min(block.length, total - sent));
    socket.write(chunk);
    hash.update(chunk);
    sent += chunk.length;
  }
  socket.end();
  return hash.digest('hex');
}

/** Reads with a pause after every chunk (about 40 MB/s), hashing until the FIN. */
function slowRead(socket: Socket): Promise<{ bytes: number; sha256: string }> {
  const hash = createHash('sha256');
  let bytes = 0;
  return new Promise((resolve, reject) => {
    socket.on('data', (chunk: Buffer) => {
      bytes += chunk.length;
      hash.update(chunk);
      socket.pause();
      setTimeout(() => socket.resume(), Math.ceil(chunk.length / 40_000));
    });
    socket.on('end', () => resolve({ bytes, sha256: hash.digest('hex') }));
    socket.on('error', reject);
  });
}

describe('tunnel edges', () => {
  const dir = tempDir('websocksy-tunnel-edge-');
  let server: RunningWebsocksy;
  let peer: Awaited<ReturnType<typeof slowExchangeServer>>;
  let remotePort = 0;

  before(async () => {
    peer = await slowExchangeServer(SEND_THEN_CLOSE_BYTES);
    remotePort = await freePort();
    server = await startTunnelServer(dir.path, `alice ${TOKEN} connect=127.0.0.1:${peer.port} listen=127.0.0.1:${remotePort}\n`, 'max-sessions = 2\n');
  });

  after(async () => {
    await server.stop();
    peer.server.close();
    dir.remove();
  });

  test('a tunnel socket that never says hello is closed after the heartbeat timeout, and logged', async () => {
    const client = await connect(`ws://127.0.0.1:${server.port}/.tunnel`, TUNNEL_SUBPROTOCOL);
    const started = Date.now();
    const { code, reason } = await client.closed(5000);
    assert.equal(code, 4000);
    assert.match(reason, /no hello within 1000 ms/);
    assert.ok(Date.now() - started >= 900, `closed after ${Date.now() - started} ms`);
    await server.waitForLog(/tunnel closed before its hello .*waited_ms=\d+/);
  });

  test('each session sends send-then-close through -L and -R with slow readers: every byte, and no stream left', { timeout: 60_000 }, async () => {
    const client = await startForward(
      ['-L', `0:127.0.0.1:${peer.port}`, '-R', `127.0.0.1:${remotePort}:127.0.0.1:${peer.port}`, `ws://alice@127.0.0.1:${server.port}/.tunnel`, '--token', TOKEN],
      1,
    );
    try {
      for (const port of [client.ports[0] as number, remotePort]) {
        const before = peer.results.length;
        const socket = await dial(port);
        const received = slowRead(socket);
        const sent = sendAndEnd(socket, SEND_THEN_CLOSE_BYTES);
        const mine = await received;
        await until(() => peer.results.length > before, 10_000, 'the far connection');
        const theirs = await peer.results[before];
        assert.deepEqual(theirs, { bytes: SEND_THEN_CLOSE_BYTES, sha256: sent }, `toward the far side through port ${port}`);
        assert.deepEqual(mine, { bytes: SEND_THEN_CLOSE_BYTES, sha256: sent }, `toward the near side through port ${port}`);
      }
      // Before the fix the last credit after each FIN never went out: the streams stayed for ever.
      await until(async () => (await fetchStatus(server.port)).server?.sessions.every((session) => session.streams.length === 0) ?? false, 10_000, 'both streams to finish');
    } finally {
      await client.stop();
    }
  });

  test('a raw client whose data frames, FIN and close frame arrive in one TCP write: the peer gets every byte and the end', async () => {
    const { ws, head } = await RawWebSocket.open(server.port, '/.tunnel', [`Sec-WebSocket-Protocol: ${TUNNEL_SUBPROTOCOL}`]);
    assert.match(head, new RegExp(`Sec-WebSocket-Protocol: ${TUNNEL_SUBPROTOCOL.replaceAll('.', '\\.')}`, 'i'));
    const before = peer.results.length;
    try {
      await rawHello(ws);
      await rawOpen(ws, 1, peer.port);
      const data = pattern(9).subarray(0, 60_000);
      const frames = [0, 1, 2, 3].map(() => clientFrame(OPCODE.binary, Buffer.concat([Buffer.from([FrameType.data, 0, 0, 0, 1]), data])));
      ws.write(Buffer.concat([...frames, clientFrame(OPCODE.binary, encodeEmpty(FrameType.fin, 1)), closeFrame(1000, 'done')]));
      await until(() => peer.results.length > before, 10_000, 'the far connection');
      const theirs = await peer.results[before];
      const expected = createHash('sha256');
      for (let i = 0; i < 4; i++) expected.update(data);
      assert.deepEqual(theirs, { bytes: 240_000, sha256: expected.digest('hex') });
    } finally {
      ws.socket.destroy();
    }
  });

  test(`max-sessions: a third session of one identity is refused while two are attached, and replaces a detached one`, { timeout: 30_000 }, async () => {
    const first = await helloClient(server.port, 'alice', TOKEN);
    const second = await helloClient(server.port, 'alice', TOKEN);
    try {
      const refused = await runWebsocksy(['forward', '-L', `0:127.0.0.1:${peer.port}`, `ws://alice@127.0.0.1:${server.port}/.tunnel`, '--token', TOKEN]);
      assert.equal(refused.code, 1);
      assert.match(refused.stderr, /tunnel refused .*why="identity alice already has 2 attached sessions \(max-sessions = 2\)"/);
      first.ws.close();
      await server.waitForLog(/tunnel detached .*identity=alice/);
      const third = await helloClient(server.port, 'alice', TOKEN);
      await server.waitForLog(/session replaced .*identity=alice/);
      const sessions = (await fetchStatus(server.port)).server?.sessions.filter((session) => session.identity === 'alice') ?? [];
      assert.equal(sessions.length, 2);
      assert.ok(sessions.every((session) => session.state === 'attached'), JSON.stringify(sessions));
      third.ws.close();
    } finally {
      first.ws.terminate();
      second.ws.terminate();
    }
    assert.doesNotMatch(server.log(), new RegExp(TOKEN));
  });
});

describe('a stream its client ends and resets in one breath', () => {
  const dir = tempDir('websocksy-tunnel-fin-reset-');
  let server: RunningWebsocksy;
  let echo: Awaited<ReturnType<typeof tcpEcho>>;
  let echoPort = 0;

  before(async () => {
    echo = await tcpEcho();
    echoPort = (echo.server.address() as { port: number }).port;
    server = await startTunnelServer(dir.path, `alice ${TOKEN} connect=127.0.0.1:${echoPort}\n`);
  });

  after(async () => {
    await server.stop();
    await echo.close();
    dir.remove();
  });

  // The FIN's end() had begun a shutdown when the RESET came; net.Socket.resetAndDestroy() then
  // failed with EINVAL and never closed the descriptor (lib/reset-connection.ts): one lost per stream.
  test('leaves no descriptor open in the server, and the far peer sees its end', { timeout: 30_000 }, async () => {
    const pid = server.process.pid as number;
    const { ws } = await RawWebSocket.open(server.port, '/.tunnel', [`Sec-WebSocket-Protocol: ${TUNNEL_SUBPROTOCOL}`]);
    try {
      await rawHello(ws);
      const start = openDescriptors(pid);
      const streams = Array.from({ length: 16 }, (_, index) => 2 * index + 1);
      for (const id of streams) {
        await rawOpen(ws, id, echoPort);
        ws.write(Buffer.concat([clientFrame(OPCODE.binary, encodeEmpty(FrameType.fin, id)), clientFrame(OPCODE.binary, encodeText(FrameType.reset, id, 'gone'))]));
      }
      await until(() => echo.sockets.size === 0, 10_000, 'the echo peer to see every connection end');
      await until(() => openDescriptors(pid) <= start, 10_000, () => `the server's descriptors back to ${start} (still ${openDescriptors(pid)})`);
    } finally {
      ws.socket.destroy();
    }
  });
});

describe('tunnel sockets waiting for their hello are bounded', () => {
  test('64 may wait at once; one more gets 503 at the upgrade, and a freed place is taken again', { timeout: 30_000 }, async () => {
    const ownDir = tempDir('websocksy-hello-bound-');
    const server = await startTunnelServer(ownDir.path, `alice ${TOKEN}\n`, 'heartbeat-timeout = 20\n');
    const waiting: TestClient[] = [];
    try {
      for (let i = 0; i < 64; i++) waiting.push(await connect(`ws://127.0.0.1:${server.port}/.tunnel`, TUNNEL_SUBPROTOCOL));
      await assert.rejects(connect(`ws://127.0.0.1:${server.port}/.tunnel`, TUNNEL_SUBPROTOCOL), /HTTP 503/);
      await server.waitForLog(/refused .*status="503 Service Unavailable" why="64 tunnel connections are waiting for their hello \(limit 64\)"/);
      // A socket that authenticates leaves the waiting list, as does one that closes.
      const [first] = waiting;
      first?.ws.send(encodeJson(FrameType.control, 0, { type: 'hello', version: 1, name: 'alice', token: TOKEN }));
      assert.equal(decodeControl(decodeFrame((await first?.next())?.data ?? Buffer.alloc(0)).body).type, 'welcome');
      waiting[1]?.ws.close();
      await server.waitForLog(/tunnel open .*identity=alice/);
      for (let attempt = 0; ; attempt++) {
        try {
          waiting.push(await connect(`ws://127.0.0.1:${server.port}/.tunnel`, TUNNEL_SUBPROTOCOL));
          break;
        } catch (error) {
          if (attempt > 50) throw error;
          await new Promise((resolve) => setTimeout(resolve, 20));
        }
      }
    } finally {
      for (const client of waiting) client.ws.terminate();
      await server.stop();
      ownDir.remove();
    }
  });
});

describe('a forward client pointed at the bridge path by mistake', () => {
  test('the tcp peer behind the bridge gets nothing, the client says the URL is no tunnel endpoint, no token is logged', async () => {
    const ownDir = tempDir('websocksy-typo-');
    const received: Buffer[] = [];
    const tcpPeer = createServer((socket) => socket.on('data', (chunk: Buffer) => received.push(chunk)));
    tcpPeer.listen(0, '127.0.0.1');
    await once(tcpPeer, 'listening');
    const peerPort = (tcpPeer.address() as { port: number }).port;
    const server = await startTunnelServer(ownDir.path, `alice ${TOKEN}\n`, `[backend]\nhost = tcp://127.0.0.1:${peerPort}\nframing = binary\n`);
    try {
      const result = await runWebsocksy(['forward', '-L', '0:127.0.0.1:22', `ws://alice@127.0.0.1:${server.port}/tunnel`, '--token', TOKEN]);
      assert.equal(result.code, 1);
      assert.match(result.stderr, /tunnel refused .*is not a websocksy tunnel endpoint \(it answered HTTP 404 Not Found\); the token was not sent/);
      await new Promise((resolve) => setTimeout(resolve, 200));
      assert.equal(Buffer.concat(received).length, 0, 'the bridge peer received bytes');
      assert.doesNotMatch(result.stdout + result.stderr + server.log(), new RegExp(TOKEN));
    } finally {
      await server.stop();
      tcpPeer.close();
      ownDir.remove();
    }
  });
});

describe('the tunnel client bounds the connections waiting for its first session', () => {
  test('past 2048 waiting connections, the next ones are closed and logged', { timeout: 60_000 }, async () => {
    const dead = await freePort();
    const client = await startWebsocksy(['forward', '-L', '0:127.0.0.1:22', `ws://alice@127.0.0.1:${dead}/.tunnel`, '--token', TOKEN, '--reconnect-min', '5', '--reconnect-max', '5'], {
      readyPattern: /forwarding .*ports=(\d+)/,
    });
    const port = Number(/ports=(\d+)/.exec(client.log())?.[1]);
    const sockets: Socket[] = [];
    try {
      for (let i = 0; i < 2048; i++) {
        const socket = await dial(port);
        socket.on('error', () => undefined);
        sockets.push(socket);
      }
      const extra = await dial(port);
      sockets.push(extra);
      await Promise.race([once(extra, 'end'), once(extra, 'close')]);
      await client.waitForLog(/connection refused: too many waiting for the tunnel .*limit=2048/);
      assert.equal(sockets.filter((socket) => socket.readyState === 'open').length, 2048);
    } finally {
      for (const socket of sockets) socket.destroy();
      await client.stop();
    }
  });
});

describe('HTTP routes through a tunnel whose window exceeds a frame', () => {
  const dir = tempDir('websocksy-route-split-');
  let upstream: Upstream;
  let hub: RunningWebsocksy;
  let near: RunningWebsocksy;
  before(async () => {
    upstream = await startUpstream();
    hub = await startInstance(
      dir.path,
      'hub',
      core() + tunnelSection(dir.path, 'hub', `near tok-near\n`) + 'window = 4m\n' + `[route /far]\nto = http://127.0.0.1:${upstream.port}/\nvia = near\n`,
    );
    near = await startInstance(dir.path, 'near', core() + upstreamSection('hub', hub.port, 'near', 'tok-near', `accept = 127.0.0.1:${upstream.port}\n`), 1);
  });
  after(async () => {
    await near.stop();
    await hub.stop();
    await upstream.close();
    dir.remove();
  });

  test('a 2 MB response and a 2 MB upload arrive whole, in data frames of at most 64 KiB', { timeout: 30_000 }, async () => {
    const download = await send(hub.port, '/far/download?bytes=2097152');
    assert.equal(download.status, 200);
    assert.deepEqual({ bytes: download.bytes, sha256: download.sha256 }, { bytes: 2_097_152, sha256: patternHash(2_097_152) });
    const upload = await send(hub.port, '/far/echo', { method: 'POST', body: 2_097_152 });
    assert.equal(upload.status, 200);
    assert.deepEqual(JSON.parse(upload.text).bytes, 2_097_152);
    assert.equal(JSON.parse(upload.text).sha256, patternHash(2_097_152));
    assert.doesNotMatch(hub.log() + near.log(), /stream reset|tunnel down|protocol error/);
  });
});
