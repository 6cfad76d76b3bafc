/*
 * The guarded front, proven: websocksy runs in this process, and the test makes each kind of
 * callback throw — uWS (HTTP handler, upgrade, open, message, pong, close), net (peer read,
 * end, error), dgram (a udp peer's datagram), node:http (an upstream's response, a request
 * body), websocksy's WebSocket client (a websocket route's upstream), and plugins (framing on data and on release,
 * a backend's query sync and async, its cleanup at shutdown). Each time only the victim
 * connection fails (1011 or 500), the fault is logged and counted, and a neighbour connection
 * opened before keeps echoing. An exception that escaped would end this test process.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer as createHttpServer, type Server } from 'node:http';
import { writeFileSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';
import WebSocket, { WebSocketServer } from 'ws';
import { Bridge } from '../src/core/bridge.js';
import { BridgeEndpoint } from '../src/front/bridge-endpoint.js';
import { ClientResponse } from '../src/http/client-response.js';
import { HttpRoutes } from '../src/http/routes.js';
import { faultCount } from '../src/lib/guard.js';
import { WebSocketClient } from '../src/lib/websocket-client.js';
import { startServer, type RunningServer } from '../src/server/command.js';
import { connect, type TestClient } from './helpers/client.js';
import { streamServer, tcpEcho, tempDir, udpEcho, type Peer } from './helpers/peers.js';

const FAULT = 'fault';
const dir = tempDir('websocksy-guard-');

/** A JS backend that routes by path, and a framing plugin that can be told to throw. */
const BACKEND = `
export default function () {
  const peers = {};
  return {
    name: 'route',
    configure(key, value) { peers[key] = value; },
    query(query) {
      const path = query.endpoint;
      if (path.startsWith('/query-throws')) throw new Error('backend broke');
      if (path.startsWith('/query-rejects')) return Promise.reject(new Error('backend broke later'));
      if (path.startsWith('/udp')) return { host: peers.udp };
      if (path.startsWith('/ender')) return { host: peers.ender };
      if (path.startsWith('/resetter')) return { host: peers.resetter };
      if (path.startsWith('/framing')) return { host: peers.tcp, framing: 'faulty' };
      return { host: peers.tcp };
    },
    cleanup() { if (globalThis.websocksyCleanupThrows) throw new Error('cleanup broke'); },
  };
}`;
const FRAMING = `
export default {
  name: 'faulty',
  frame(data, lastRead, ctx) {
    if (data === null) { if (ctx.state === 'release-throws') throw new Error('release broke'); return 0; }
    const text = Buffer.from(data).toString();
    if (text.includes('frame-throws')) throw new Error('framing broke');
    if (text.includes('release-throws')) ctx.state = 'release-throws';
    return data.length;
  },
};`;

type Restore = () => void;

/** Replaces `proto[name]` with a version that throws when `when(this, args)`; returns the undo. */
function faultIn<T extends object>(proto: T, name: string, when: (self: T, args: unknown[]) => boolean): Restore {
  const record = proto as unknown as Record<string, (...args: unknown[]) => unknown>;
  const original = record[name];
  assert.ok(typeof original === 'function', `${name} is a method`);
  record[name] = function (this: T, ...args: unknown[]): unknown {
    if (when(this, args)) throw new Error(`injected fault in ${name}`);
    return original.apply(this, args);
  };
  return () => {
    record[name] = original;
  };
}

const isVictim = (bridge: Bridge): boolean => bridge.description.endpoint.includes(FAULT);

describe('one guarded front: a throw in any callback closes only its own connection', () => {
  let server: RunningServer;
  let tcp: Awaited<ReturnType<typeof tcpEcho>>;
  let udp: Peer;
  let ender: Peer;
  let resetter: Peer;
  let upstream: Server;
  let wsUpstream: WebSocketServer;
  let neighbour: TestClient;
  let base: string;

  async function neighbourEchoes(): Promise<void> {
    neighbour.ws.send('still here');
    assert.equal((await neighbour.next()).data.toString(), 'still here');
  }

  /** Runs `act` with `restore` undone afterwards; the fault counter must grow and the neighbour live on. */
  async function expectFault(restore: Restore, act: () => Promise<void>): Promise<void> {
    const before = faultCount();
    try {
      await act();
    } finally {
      restore();
    }
    assert.ok(faultCount() > before, 'the guard caught and counted the fault');
    await neighbourEchoes();
  }

  async function closesWith1011(path: string, send?: string): Promise<void> {
    const victim = await connect(`${base}${path}`);
    if (send !== undefined) victim.ws.send(send);
    const { code } = await victim.closed();
    assert.equal(code, 1011);
  }

  async function refusedWith(path: string, status: number): Promise<void> {
    const ws = new WebSocket(`${base}${path}`);
    ws.on('error', () => undefined);
    const [, response] = (await once(ws, 'unexpected-response')) as [unknown, { statusCode: number; destroy(): void }];
    assert.equal(response.statusCode, status);
    response.destroy();
  }

  before(async () => {
    tcp = await tcpEcho();
    udp = await udpEcho();
    ender = await streamServer((socket) => socket.once('data', () => socket.end()));
    resetter = await streamServer((socket) => socket.once('data', () => socket.resetAndDestroy()));
    upstream = createHttpServer((req, res) => {
      req.resume();
      req.on('end', () => {
        if (req.url?.includes(FAULT) === true) res.setHeader('x-fault', '1');
        res.end('upstream answer');
      });
    });
    upstream.listen(0, '127.0.0.1');
    await once(upstream, 'listening');
    wsUpstream = new WebSocketServer({ port: 0, host: '127.0.0.1' });
    wsUpstream.on('connection', (socket) => socket.on('message', (data, binary) => socket.send(data, { binary })));
    await once(wsUpstream, 'listening');
    writeFileSync(`${dir.path}/backend_route.mjs`, BACKEND);
    writeFileSync(`${dir.path}/framing_faulty.mjs`, FRAMING);
    const httpPort = (upstream.address() as { port: number }).port;
    const wsPort = (wsUpstream.address() as { port: number }).port;
    writeFileSync(
      `${dir.path}/guard.cfg`,
      `[core]\nlisten = 127.0.0.1\nport = 0\nping = 0\nplugins = ${dir.path}\nbackend = route\nallow-peers = tcp:127.0.0.1:*, udp:127.0.0.1:*\n` +
        `[backend]\ntcp = ${tcp.address}\nudp = ${udp.address}\nender = ${ender.address}\nresetter = ${resetter.address}\n` +
        `[route /api]\nto = http://127.0.0.1:${httpPort}/\n[route /relay]\nwebsocket = ws://127.0.0.1:${wsPort}/\n`,
    );
    const started = await startServer([`${dir.path}/guard.cfg`]);
    assert.ok(started !== null);
    server = started;
    base = `ws://127.0.0.1:${server.port}`;
    neighbour = await connect(`${base}/neighbour`);
    await neighbourEchoes();
  });

  after(async () => {
    neighbour.ws.terminate();
    await server.stop('test over');
    await Promise.all([tcp.close(), udp.close(), ender.close(), resetter.close()]);
    upstream.closeAllConnections();
    upstream.close();
    wsUpstream.close();
    dir.remove();
  });

  test('uWS upgrade', () =>
    expectFault(faultIn(BridgeEndpoint.prototype, 'upgrade', (_self, [request]) => (request as { path: string }).path.includes(FAULT)), () => refusedWith('/fault-upgrade', 500)));

  test('uWS open', () => expectFault(faultIn(Bridge.prototype, 'open', isVictim), () => closesWith1011('/fault-open')));

  test('uWS message', () => expectFault(faultIn(Bridge.prototype, 'onClientMessage', isVictim), () => closesWith1011('/fault-message', 'x')));

  test('uWS pong', async () => {
    await expectFault(faultIn(BridgeEndpoint.prototype, 'pong', (_self, [ws]) => isVictim((ws as { getUserData(): { bridge: Bridge } }).getUserData().bridge)), async () => {
      const victim = await connect(`${base}/fault-pong`);
      victim.ws.pong();
      assert.equal((await victim.closed()).code, 1011);
    });
  });

  test('uWS close: the peer of the closed client is released all the same', async () => {
    const peerSockets = tcp.sockets;
    const baseline = peerSockets.size;
    await expectFault(faultIn(Bridge.prototype, 'onClientClosed', isVictim), async () => {
      const victim = await connect(`${base}/fault-close`);
      assert.equal(peerSockets.size, baseline + 1);
      victim.ws.close(1000);
      await victim.closed();
    });
    // The bridge gave up its peer after the fault: the echo peer sees the connection end.
    for (let i = 0; i < 50 && peerSockets.size > baseline; i++) await new Promise((resolve) => setTimeout(resolve, 20));
    assert.equal(peerSockets.size, baseline);
  });

  test('net: a peer read', () =>
    expectFault(faultIn(Bridge.prototype, 'peerData', (self) => isVictim(self) && self.peer.address.transport === 'tcp'), () => closesWith1011('/fault-read', 'echo me')));

  test('net: a peer end', () => expectFault(faultIn(Bridge.prototype, 'peerEnd', isVictim), () => closesWith1011('/ender-fault', 'bye')));

  test('net: a peer error', () => expectFault(faultIn(Bridge.prototype, 'peerError', isVictim), () => closesWith1011('/resetter-fault', 'reset me')));

  test('dgram: a datagram from a udp peer', () =>
    expectFault(faultIn(Bridge.prototype, 'peerData', (self) => isVictim(self) && self.peer.address.transport === 'udp'), () => closesWith1011('/udp-fault', 'datagram')));

  test('plugin: a framing function that throws on data', () => expectFault(() => undefined, () => closesWith1011('/framing-fault', 'frame-throws')));

  test('plugin: a framing function that throws on its release call', () =>
    expectFault(() => undefined, async () => {
      const victim = await connect(`${base}/framing-fault-release`);
      victim.ws.send('release-throws');
      assert.equal((await victim.next()).data.toString(), 'release-throws');
      victim.ws.close(1000);
      await victim.closed();
      await new Promise((resolve) => setTimeout(resolve, 50));
    }));

  test('plugin: a backend query that throws, or rejects', async () => {
    await refusedWith('/query-throws', 500);
    await refusedWith('/query-rejects', 500);
    await neighbourEchoes();
  });

  test('uWS HTTP handler', async () => {
    await expectFault(faultIn(HttpRoutes.prototype, 'serve', (_self, [, request]) => (request as { path: string }).path.includes(FAULT)), async () => {
      const response = await fetch(`http://127.0.0.1:${server.port}/api/fault-handler`);
      assert.equal(response.status, 500);
    });
  });

  test("undici: an upstream's response", async () => {
    // The head is held to leave with the first body chunk: a fault while writing it comes after
    // uWS may have taken the status line, so the connection is closed rather than answered 500.
    await expectFault(faultIn(ClientResponse.prototype, 'writeHead', (_self, [, headers]) => (headers as Array<[string, string]>).some(([name]) => name === 'x-fault')), async () => {
      const response = await fetch(`http://127.0.0.1:${server.port}/api/fault-response`).catch(() => null);
      assert.ok(response === null || response.status === 500, `status ${String(response?.status)}`);
    });
  });

  test('undici: a request body on its way up', async () => {
    // The only HTTP exchange in flight is the victim's: when uWS hands over the last piece of
    // its 4 MB upload, the relay marks the body read and resumes reading, inside uWS's data
    // callback; that resume throws.
    await expectFault(faultIn(ClientResponse.prototype, 'resumeBody', (self) => !(self as unknown as { bodyPending: boolean }).bodyPending), async () => {
      const response = await fetch(`http://127.0.0.1:${server.port}/api/fault-body`, { method: 'POST', body: 'x'.repeat(4_000_000) }).catch(() => null);
      assert.ok(response === null || response.status === 500, `status ${String(response?.status)}`);
    });
  });

  test("websocket client: a websocket route's upstream", async () => {
    // The upstream's echo of the victim's message throws where the client hands it on.
    const toVictim = (self: WebSocketClient): boolean => (self as unknown as { options: { url: URL } }).options.url.pathname.includes(FAULT);
    await expectFault(faultIn(WebSocketClient.prototype, 'message', toVictim), async () => {
      const victim = await connect(`${base}/relay/fault`);
      victim.ws.send('x');
      assert.equal((await victim.closed()).code, 1011);
    });
  });

  test('plugin: a backend cleanup that throws at shutdown is logged, and shutdown completes', async () => {
    const second = await startServer(['-l', '127.0.0.1', '-p', '0', '-k', '0', '-P', dir.path, '-b', 'route', '--allow-peers', 'tcp:127.0.0.1:*', '-c', `tcp=${tcp.address}`]);
    assert.ok(second !== null);
    (globalThis as { websocksyCleanupThrows?: boolean }).websocksyCleanupThrows = true;
    try {
      await second.stop('test');
    } finally {
      delete (globalThis as { websocksyCleanupThrows?: boolean }).websocksyCleanupThrows;
    }
    await neighbourEchoes();
  });
});
