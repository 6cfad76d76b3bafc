/*
 * How much clients may take (docs/limits.md), each limit with real clients against the real
 * executable: the global cap (503 + Retry-After, and a slot that frees on close), the
 * per-address cap (clients bound to 127.0.0.2 and 127.0.0.3, and ::1), the per-identity cap
 * on tunnel sessions, the idle timeout (closed when silent, kept while a byte trickles either
 * way), the status output, and the handshake timeout (a slow upstream, and a half-sent request:
 * uWS takes seconds to close it, and it waits while the other tests run). The rate limit has its
 * own file (rate-limit.test.ts).
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { writeFileSync } from 'node:fs';
import { connect as netConnect, createServer, type Server, type Socket } from 'node:net';
import { after, before, describe, test } from 'node:test';
import WebSocket from 'ws';
import { addressGroup } from '../src/core/address-group.js';
import { Admission, AdmissionTicket, noLimits } from '../src/core/admission.js';
import { Refusal } from '../src/core/refusal.js';
import { engine } from '../src/front/engine.js';
import { rateClock } from '../src/core/throttle.js';
import { closeClient, connect, wrap, type TestClient } from './helpers/client.js';
import { rawRequest, upgradeRequest } from './helpers/http.js';
import { streamServer, tcpEcho, tempDir, type Peer } from './helpers/peers.js';
import { until } from './helpers/session-client.js';
import { startForward } from './helpers/tunnel.js';
import { runWebsocksy, startWebsocksy, type RunningWebsocksy } from './helpers/websocksy.js';

interface LimitsStatus {
  connections: number;
  addresses: number;
  busiestAddress: number;
  identities: number;
  refused: Record<string, number>;
}

async function limitsOf(port: number): Promise<LimitsStatus> {
  const response = await fetch(`http://127.0.0.1:${port}/.status`);
  return ((await response.json()) as { limits: LimitsStatus }).limits;
}

/** A config file with `core` lines in [core], a bridge to `peer`, and the status path. */
function configFile(dir: string, name: string, core: string, peer: string): string {
  const path = `${dir}/${name}.cfg`;
  writeFileSync(path, `[core]\nlisten = 127.0.0.1\nport = 0\n${core}\n[backend]\nhost = ${peer}\n[status]\npath = /.status\nclients = loopback\n`);
  return path;
}

/** Opens a client from `localAddress` (or the default), resolving with it or with the refusal's HTTP status. */
function open(url: string, localAddress?: string): Promise<TestClient | number> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { perMessageDeflate: false, ...(localAddress === undefined ? {} : { localAddress }) });
    const client = wrap(ws);
    ws.once('open', () => resolve(client));
    ws.once('unexpected-response', (_request, response) => {
      resolve(response.statusCode ?? 0);
      ws.terminate();
    });
    ws.once('error', reject);
  });
}

const dir = tempDir();

/**
 * When uWS closes a connection whose request never completes, in seconds after its first bytes
 * (docs/limits.md): its HTTP idle timeout, checked on its timer tick. Measured: 20.30 12.4 s,
 * 20.57 28.9 s.
 */
const HALF_SENT_CLOSE_S: readonly [number, number] = /^20\.57/.test(engine().version) ? [20, 40] : [7, 15];

/**
 * A websocksy of its own gets the first line and one header of an upgrade request, and nothing
 * more; resolves with the seconds until the connection closed (bounded by the range's end).
 * That wait is uWS's alone: it starts before the first test and its test ('handshake timeout')
 * awaits the outcome, so that the other tests run meanwhile instead of after it.
 */
async function halfSentRequest(): Promise<number> {
  const peer = await tcpEcho();
  const server = await startWebsocksy([configFile(dir.path, 'half', '', peer.address)]);
  try {
    const socket = netConnect(server.port, '127.0.0.1');
    await once(socket, 'connect');
    const started = Date.now();
    socket.write('GET /x HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\n');
    socket.on('error', () => undefined);
    socket.resume();
    let timer: NodeJS.Timeout | undefined;
    try {
      await Promise.race([once(socket, 'close'), new Promise((_, reject) => (timer = setTimeout(() => reject(new Error(`still open after ${HALF_SENT_CLOSE_S[1] + 1} s`)), (HALF_SENT_CLOSE_S[1] + 1) * 1000)))]);
    } finally {
      clearTimeout(timer);
      socket.destroy();
    }
    return (Date.now() - started) / 1000;
  } finally {
    await server.stop();
    await peer.close();
  }
}

let halfSent: Promise<number>;
before(() => {
  halfSent = halfSentRequest();
  // Awaited by its test; a failure before then is that test's.
  halfSent.catch(() => undefined);
});
after(async () => {
  await halfSent?.catch(() => undefined);
  dir.remove();
});

describe('address groups', () => {
  test('IPv4 by address, IPv4-mapped as IPv4, IPv6 by /64 in any spelling', () => {
    assert.equal(addressGroup('203.0.113.7'), '203.0.113.7');
    assert.equal(addressGroup('::ffff:203.0.113.7'), '203.0.113.7');
    assert.equal(addressGroup('2001:db8:1:2:aaaa::1'), '2001:db8:1:2::/64');
    assert.equal(addressGroup('2001:0db8:0001:0002:ffff:ffff:ffff:ffff'), '2001:db8:1:2::/64');
    assert.equal(addressGroup('2001:db8::1'), '2001:db8:0:0::/64');
    assert.equal(addressGroup('2001:db8:0:0:1::'), '2001:db8:0:0::/64');
    assert.equal(addressGroup('::1'), '0:0:0:0::/64');
    assert.equal(addressGroup('fe80::1%lo'), 'fe80:0:0:0::/64');
    assert.notEqual(addressGroup('2001:db8:1:2::1'), addressGroup('2001:db8:1:3::1'));
  });
});

describe('the admission API', () => {
  function ticket(result: AdmissionTicket | Refusal): AdmissionTicket {
    assert.ok(result instanceof AdmissionTicket, result instanceof Refusal ? result.detail : 'a ticket');
    return result;
  }

  test('an identity known at the upgrade is capped with 429; release takes effect once', () => {
    const admission = new Admission({ ...noLimits, maxPerIdentity: 2 });
    const first = ticket(admission.admit(1, '192.0.2.1', 'alice'));
    ticket(admission.admit(2, '192.0.2.2', 'alice'));
    const third = admission.admit(3, '192.0.2.3', 'alice');
    assert.ok(third instanceof Refusal);
    assert.equal(third.status, 429);
    assert.equal(third.headers['Retry-After'], '5');
    ticket(admission.admit(4, '192.0.2.3', 'bob'));
    assert.equal(admission.size, 3, 'the refused one holds no place');
    first.release();
    first.release();
    assert.equal(admission.size, 2);
    ticket(admission.admit(5, '192.0.2.1', 'alice'));
    assert.equal(admission.admit(6, '192.0.2.1', 'alice') instanceof Refusal, true, 'a second release freed nothing more');
    admission.stop();
  });

  test('a late identity (claimIdentity) is counted until release; identity-rate-limit is one bucket for all its connections', () => {
    const admission = new Admission({ ...noLimits, maxPerIdentity: 1, identityRateLimit: 1024 * 1024 });
    const a = ticket(admission.admit(1, '192.0.2.1', null));
    const b = ticket(admission.admit(2, '192.0.2.2', null));
    assert.equal(a.claimIdentity('carol'), null);
    assert.equal(b.claimIdentity('carol')?.status, 429);
    a.release();
    assert.equal(b.claimIdentity('carol'), null);
    admission.stop();
    const shared = new Admission({ ...noLimits, identityRateLimit: 1024 * 1024 });
    const d = ticket(shared.admit(4, '192.0.2.4', 'dave'));
    const e = ticket(shared.admit(5, '192.0.2.5', 'dave'));
    const f = ticket(shared.admit(6, '192.0.2.6', 'erin'));
    assert.ok(d.toPeer !== null && e.toPeer !== null && f.toPeer !== null);
    const now = rateClock.now;
    // dave's bucket (a quarter second of 1 MiB/s) is drained by one of his connections: the other waits too.
    assert.equal(d.toPeer.pass(300 * 1024, now), true);
    assert.equal(e.toPeer.pass(1, now), false);
    // erin's is her own.
    assert.equal(f.toPeer.pass(1024, now), true);
    // After 100 ms of refill (100 KiB) dave's debt of 44 KiB is paid: both may go on.
    assert.equal(e.toPeer.pass(1, now + 100), true);
    shared.stop();
  });
});

describe('limit settings', () => {
  test('a bad value names the flag or the config line', async () => {
    const flag = await runWebsocksy(['-p', '0', '--rate-limit', 'fast']);
    assert.notEqual(flag.code, 0);
    assert.match(flag.stderr, /--rate-limit.*"fast" is not a size/);
    const path = `${dir.path}/bad.cfg`;
    writeFileSync(path, '[core]\nport = 0\nmax-connections-per-address = -1\n');
    const line = await runWebsocksy([path]);
    assert.notEqual(line.code, 0);
    assert.match(line.stderr, /bad\.cfg:3 \[core\]: max-connections-per-address: "-1" is not a whole number/);
  });
});

describe('connection caps', () => {
  let peer: Peer;
  before(async () => {
    peer = await tcpEcho();
  });
  after(async () => {
    await peer.close();
  });

  test('max-connections: the one over the cap gets 503 with Retry-After; a close frees a slot', async () => {
    const server = await startWebsocksy([configFile(dir.path, 'global', 'max-connections = 2', peer.address)]);
    const clients: TestClient[] = [];
    try {
      clients.push(await connect(`${server.url}/a`), await connect(`${server.url}/b`));
      const refused = await rawRequest(server.port, upgradeRequest('/c'));
      assert.equal(refused.status, 503);
      assert.equal(refused.headers.get('retry-after'), '5');
      assert.doesNotMatch(refused.body, /max-connections|127\.0\.0\.1/, 'the body names no internals');
      await server.waitForLog(/refused .*status="503 Service Unavailable" why="2 connections open \(max-connections = 2\)"/);
      // The echo still works for those admitted.
      const first = clients[0] as TestClient;
      first.ws.send('still here');
      assert.equal((await first.next()).data.toString(), 'still here');
      await closeClient(clients.shift() as TestClient);
      await until(async () => (await limitsOf(server.port)).connections === 1, 5000, 'the closed connection released');
      clients.push(await connect(`${server.url}/d`));
      const status = await limitsOf(server.port);
      assert.equal(status.connections, 2);
      assert.equal(status.refused['max-connections'], 1);
    } finally {
      for (const client of clients) await closeClient(client);
      await server.stop();
    }
  });

  test('max-connections-per-address: 127.0.0.2 and 127.0.0.3 have a budget each; 429 with Retry-After', async () => {
    const server = await startWebsocksy([configFile(dir.path, 'per-address', 'max-connections-per-address = 2', peer.address)]);
    const clients: TestClient[] = [];
    try {
      for (const address of ['127.0.0.2', '127.0.0.2', '127.0.0.3', '127.0.0.3']) {
        const client = await open(`${server.url}/x`, address);
        assert.ok(typeof client !== 'number', `${address} admitted`);
        clients.push(client);
      }
      assert.equal(await open(`${server.url}/x`, '127.0.0.2'), 429);
      assert.equal(await open(`${server.url}/x`, '127.0.0.3'), 429);
      await server.waitForLog(/refused .*client=127\.0\.0\.2 .*status="429 Too Many Requests" why="2 connections open from 127\.0\.0\.2/);
      // Another address is not held back by the full ones.
      const other = await open(`${server.url}/x`, '127.0.0.4');
      assert.ok(typeof other !== 'number');
      clients.push(other);
      let status = await limitsOf(server.port);
      assert.equal(status.connections, 5);
      assert.equal(status.addresses, 3);
      assert.equal(status.busiestAddress, 2);
      assert.equal(status.refused['max-connections-per-address'], 2);
      // One of 127.0.0.2's closes: 127.0.0.2 may connect again.
      await closeClient(clients.shift() as TestClient);
      await until(async () => (await limitsOf(server.port)).connections === 4, 5000, 'released');
      const again = await open(`${server.url}/x`, '127.0.0.2');
      assert.ok(typeof again !== 'number');
      clients.push(again);
      status = await limitsOf(server.port);
      assert.equal(status.refused['max-connections-per-address'], 2);
      // A raw refusal carries Retry-After.
      const raw = await new Promise<string>((resolve, reject) => {
        const socket = netConnect({ port: server.port, host: '127.0.0.1', localAddress: '127.0.0.2' });
        let text = '';
        socket.on('data', (chunk: Buffer) => (text += chunk.toString('latin1')));
        socket.on('close', () => resolve(text));
        socket.on('error', reject);
        socket.write(upgradeRequest('/x'));
      });
      assert.match(raw, /^HTTP\/1\.1 429 Too Many Requests\r\n/);
      assert.match(raw, /\r\nRetry-After: 5\r\n/i);
    } finally {
      for (const client of clients) await closeClient(client);
      await server.stop();
    }
  });

  test('max-connections-per-address counts IPv6 clients (::1) by their /64', async (t) => {
    const path = `${dir.path}/per-address-v6.cfg`;
    writeFileSync(path, `[core]\nlisten = ::1\nport = 0\nmax-connections-per-address = 1\n[backend]\nhost = ${peer.address}\n`);
    let server: RunningWebsocksy;
    try {
      server = await startWebsocksy([path]);
    } catch (error) {
      t.skip(`no IPv6 loopback here: ${String(error).slice(0, 200)}`);
      return;
    }
    try {
      const first = await open(`ws://[::1]:${server.port}/x`);
      assert.ok(typeof first !== 'number');
      assert.equal(await open(`ws://[::1]:${server.port}/x`), 429);
      await server.waitForLog(/refused .*why="1 connections open from 0:0:0:0::\/64 \(max-connections-per-address = 1\)"/);
      await closeClient(first);
    } finally {
      await server.stop();
    }
  });
});

describe('max-connections-per-identity on tunnel sessions', () => {
  const TOKEN = 'correct-horse-battery-staple';
  let server: RunningWebsocksy;
  let far: Peer;
  before(async () => {
    far = await tcpEcho();
    const target = far.address.replace('tcp://', '');
    writeFileSync(`${dir.path}/identities`, `alice ${TOKEN} connect=${target}\nbob ${TOKEN} connect=${target}\n`);
    writeFileSync(
      `${dir.path}/tunnel.cfg`,
      `[core]\nlisten = 127.0.0.1\nport = 0\nmax-connections-per-identity = 1\n[tunnel]\nidentities = ${dir.path}/identities\nheartbeat = 0.25\nheartbeat-timeout = 1\n[status]\npath = /.status\nclients = loopback\n`,
    );
    server = await startWebsocksy([`${dir.path}/tunnel.cfg`]);
  });
  after(async () => {
    await server.stop();
    await far.close();
  });

  test('a second tunnel of the same identity is refused; another identity is not; a close frees the place', async () => {
    const target = far.address.replace('tcp://', '');
    const url = (name: string): string => `ws://${name}@127.0.0.1:${server.port}/.tunnel`;
    const alice = await startForward(['-L', `0:${target}`, url('alice'), '--token', TOKEN]);
    try {
      const second = await runWebsocksy(['forward', '-L', `0:${target}`, url('alice'), '--token', TOKEN]);
      assert.equal(second.code, 1);
      assert.match(second.stdout + second.stderr, /too many connections for this identity/);
      await server.waitForLog(/tunnel refused .*identity=alice .*why="identity alice has 1 connections open \(max-connections-per-identity = 1\)"/);
      const bob = await startForward(['-L', `0:${target}`, url('bob'), '--token', TOKEN]);
      const status = await limitsOf(server.port);
      assert.equal(status.identities, 2);
      assert.equal(status.refused['max-connections-per-identity'], 1);
      await bob.stop();
      await alice.stop();
      await until(async () => (await limitsOf(server.port)).identities === 0, 5000, 'identities released');
      const again = await startForward(['-L', `0:${target}`, url('alice'), '--token', TOKEN]);
      await again.stop();
    } finally {
      await alice.stop();
    }
  });
});

describe('idle timeout', () => {
  let peer: Awaited<ReturnType<typeof streamServer>>;
  let server: RunningWebsocksy;
  /** The peer echoes, and on `tick` writes one byte every 300 ms by itself. */
  before(async () => {
    peer = await streamServer((socket) => {
      socket.on('data', (data: Buffer) => {
        if (data.toString() === 'tick') {
          const timer = setInterval(() => socket.write('.'), 300);
          socket.on('close', () => clearInterval(timer));
        } else socket.write(data);
      });
    });
    server = await startWebsocksy([configFile(dir.path, 'idle', 'idle-timeout = 1', peer.address)]);
  });
  after(async () => {
    await server.stop();
    await peer.close();
  });

  test('a connection with no data either way is closed with 1000 "idle timeout"', async () => {
    const client = await connect(`${server.url}/x`);
    const started = Date.now();
    const { code, reason } = await client.closed(5000);
    const seconds = (Date.now() - started) / 1000;
    assert.equal(code, 1000);
    assert.equal(reason, 'idle timeout');
    assert.ok(seconds >= 0.9 && seconds <= 2.5, `closed after ${seconds} s`);
    await server.waitForLog(/close .*code=1000 reason="idle timeout" by=websocksy/);
  });

  test('a client trickling a byte every 300 ms stays open', async () => {
    const client = await connect(`${server.url}/x`);
    try {
      for (let i = 0; i < 10; i++) {
        client.ws.send('x');
        assert.equal((await client.next()).data.toString(), 'x');
        await new Promise((resolve) => setTimeout(resolve, 300));
      }
      assert.equal(client.ws.readyState, WebSocket.OPEN);
    } finally {
      await closeClient(client);
    }
  });

  test('a peer trickling a byte every 300 ms toward a silent client keeps it open too', async () => {
    const client = await connect(`${server.url}/x`);
    try {
      client.ws.send('tick');
      await new Promise((resolve) => setTimeout(resolve, 3000));
      assert.equal(client.ws.readyState, WebSocket.OPEN);
      assert.ok(client.takeAll().length >= 8);
    } finally {
      await closeClient(client);
    }
    const status = await limitsOf(server.port);
    assert.ok((status.refused['idle-timeout'] ?? 0) >= 1);
  });
});

describe('status output', () => {
  test('websocksy status prints the limits and the refusals by reason', async () => {
    const peer = await tcpEcho();
    const server = await startWebsocksy([configFile(dir.path, 'status', 'max-connections = 1\nmax-connections-per-address = 5', peer.address)]);
    try {
      const client = await connect(`${server.url}/x`);
      assert.equal(await open(`${server.url}/y`), 503);
      const { code, stdout } = await runWebsocksy(['status', `http://127.0.0.1:${server.port}/.status`]);
      assert.equal(code, 0);
      assert.match(stdout, /^limits:$/m);
      assert.match(stdout, /^ {2}connections {2}1 \(cap 1\)$/m);
      assert.match(stdout, /^ {2}addresses {4}1, busiest 1 \(cap 5 per address\)$/m);
      assert.match(stdout, /^ {2}identities {3}0, busiest 0 \(no cap per identity\)$/m);
      assert.match(stdout, /^ {2}refused {6}max-connections 1, max-connections-per-address 0, max-connections-per-identity 0, handshake-timeout 0, idle-timeout 0, rate-limit 0$/m);
      await closeClient(client);
    } finally {
      await server.stop();
      await peer.close();
    }
  });
});

describe('handshake timeout', () => {
  test(`a half-sent request is closed by uWS after its HTTP timeout (uWS ${engine().version}: ${HALF_SENT_CLOSE_S[0]}–${HALF_SENT_CLOSE_S[1]} s)`, async () => {
    // Sent before the first test (halfSentRequest, above).
    const seconds = await halfSent;
    assert.ok(seconds >= HALF_SENT_CLOSE_S[0] && seconds <= HALF_SENT_CLOSE_S[1], `closed after ${seconds} s`);
  });

  test('an upstream that never answers the handshake: 504 at handshake-timeout, and the upstream is let go', async () => {
    const sockets: Socket[] = [];
    let upstreamClosed = 0;
    // Reads (and drops) the upgrade request, answers nothing.
    const silent: Server = createServer((socket) => {
      sockets.push(socket);
      socket.on('error', () => undefined);
      socket.on('close', () => upstreamClosed++);
      socket.resume();
    });
    silent.listen(0, '127.0.0.1');
    await once(silent, 'listening');
    const silentPort = (silent.address() as { port: number }).port;
    const path = `${dir.path}/slow.cfg`;
    writeFileSync(path, `[core]\nlisten = 127.0.0.1\nport = 0\nhandshake-timeout = 1\n[route /slow]\nwebsocket = ws://127.0.0.1:${silentPort}\ntimeout = 30\n[status]\npath = /.status\nclients = loopback\n`);
    const server = await startWebsocksy([path]);
    try {
      const started = Date.now();
      const refused = await rawRequest(server.port, upgradeRequest('/slow'), 5000);
      const seconds = (Date.now() - started) / 1000;
      assert.equal(refused.status, 504);
      assert.ok(seconds >= 0.9 && seconds < 3, `answered after ${seconds} s`);
      await server.waitForLog(/refused .*status="504 Gateway Timeout" why="no answer within handshake-timeout \(1 s\)"/);
      await until(async () => sockets.length === 1 && upstreamClosed === 1, 5000, 'the upstream connection closed');
      const status = await limitsOf(server.port);
      assert.equal(status.refused['handshake-timeout'], 1);
      assert.equal(status.connections, 0, 'the timed-out upgrade released its place');
    } finally {
      await server.stop();
      for (const socket of sockets) socket.destroy();
      silent.close();
    }
  });
});
