/*
 * `rate-limit` (docs/limits.md) with real sockets: the throughput a client sees from a peer
 * that writes as fast as it can, and the one a peer sees from a client that sends as fast as it
 * can, are measured over a few seconds and must be within 25 % of the limit. Peer → client is
 * shaped by pausing the peer, so the peer's writes block: what it managed to hand to its
 * socket stays within the usual buffers (kernel and client-buffer), however long it tries.
 * Client → peer cannot pause the WebSocket (uWS 20.30): a client past the peer buffer is closed
 * with 1008.
 */
import assert from 'node:assert/strict';
import { createSocket } from 'node:dgram';
import { once } from 'node:events';
import { writeFileSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';
import type { Socket } from 'node:net';
import { closeClient, connect } from './helpers/client.js';
import { streamServer, tempDir } from './helpers/peers.js';
import { startWebsocksy, type RunningWebsocksy } from './helpers/websocksy.js';

const RATE = 256 * 1024;
const CHUNK = Buffer.alloc(64 * 1024, 0x61);

const dir = tempDir();
after(() => dir.remove());

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** The peer: on `flood` it writes as fast as its socket takes; otherwise it counts what it gets, with times. */
interface PeerSide {
  written: number;
  received: Array<{ at: number; bytes: number }>;
  socket: Socket | null;
}

describe('rate-limit', () => {
  const side: PeerSide = { written: 0, received: [], socket: null };
  let peer: Awaited<ReturnType<typeof streamServer>>;
  let server: RunningWebsocksy;
  before(async () => {
    peer = await streamServer((socket) => {
      side.socket = socket;
      socket.on('data', (data: Buffer) => {
        if (data.toString() === 'flood') {
          const pump = (): void => {
            while (!socket.destroyed) {
              side.written += CHUNK.length;
              if (!socket.write(CHUNK)) return;
            }
          };
          socket.on('drain', pump);
          pump();
        } else side.received.push({ at: performance.now(), bytes: data.length });
      });
    });
    writeFileSync(`${dir.path}/rate.cfg`, `[core]\nlisten = 127.0.0.1\nport = 0\nrate-limit = 256k/s\n[backend]\nhost = ${peer.address}\n[status]\npath = /.status\nclients = loopback\n`);
    server = await startWebsocksy([`${dir.path}/rate.cfg`]);
  });
  after(async () => {
    await server.stop();
    await peer.close();
  });

  test('peer → client: within 25 % of the limit, and the peer is held back, not buffered', async (t) => {
    side.written = 0;
    const client = await connect(`${server.url}/x`);
    let received = 0;
    client.ws.on('message', (data: Buffer) => (received += data.length));
    try {
      client.ws.send('flood');
      await sleep(1000);
      const from = received;
      await sleep(3000);
      const rate = (received - from) / 3;
      assert.ok(Math.abs(rate - RATE) <= RATE * 0.25, `measured ${Math.round(rate)} B/s for a limit of ${RATE}`);
      // Without the limit the peer would have pushed gigabytes through loopback by now.
      const inFlight = side.written - received;
      t.diagnostic(`peer → client: ${Math.round(rate)} B/s for ${RATE}; ${inFlight} bytes between the peer's writes and the client`);
      assert.ok(inFlight < 16 * 1024 * 1024, `${inFlight} bytes written by the peer and not yet at the client`);
      // `throttled` counts the connections waiting for tokens at that instant; between two
      // ticks the one connection may be waiting for the client instead, so look a few times.
      const seen: number[] = [];
      for (let i = 0; i < 20 && !seen.includes(1); i++) {
        const status = (await (await fetch(`http://127.0.0.1:${server.port}/.status`)).json()) as { limits: { throttled: number } };
        seen.push(status.limits.throttled);
        if (status.limits.throttled !== 1) await sleep(25);
      }
      assert.ok(seen.includes(1), `the status page's throttled count read ${seen.join(', ')}`);
    } finally {
      await closeClient(client);
    }
  });

  test('client → peer: within 25 % of the limit', async (t) => {
    side.received = [];
    const client = await connect(`${server.url}/x`);
    try {
      const started = performance.now();
      for (let i = 0; i < 20; i++) client.ws.send(CHUNK);
      const total = 20 * CHUNK.length;
      const deadline = Date.now() + 10_000;
      while (side.received.reduce((sum, r) => sum + r.bytes, 0) < total && Date.now() < deadline) await sleep(50);
      const inWindow = side.received.filter((r) => r.at - started >= 1000 && r.at - started < 4000).reduce((sum, r) => sum + r.bytes, 0);
      const rate = inWindow / 3;
      t.diagnostic(`client → peer: ${Math.round(rate)} B/s for ${RATE}`);
      assert.ok(Math.abs(rate - RATE) <= RATE * 0.25, `measured ${Math.round(rate)} B/s for a limit of ${RATE}`);
      assert.equal(side.received.reduce((sum, r) => sum + r.bytes, 0), total, 'everything arrived');
    } finally {
      await closeClient(client);
    }
  });

  test('client → peer: a client that keeps sending past the peer buffer is closed with 1008', async () => {
    const client = await connect(`${server.url}/x`);
    for (let i = 0; i < 100; i++) client.ws.send(CHUNK);
    const { code, reason } = await client.closed(10_000);
    assert.equal(code, 1008);
    assert.match(reason, /rate-limit/);
    const status = (await (await fetch(`http://127.0.0.1:${server.port}/.status`)).json()) as { limits: { refused: Record<string, number> } };
    assert.equal(status.limits.refused['rate-limit'], 1);
    await server.waitForLog(/close .*code=1008 reason="sending faster than rate-limit allows/);
  });
});

describe('rate-limit on a datagram peer', () => {
  test('over the rate its datagrams are dropped and counted, not queued', async (t) => {
    const DATAGRAM = Buffer.alloc(1024, 0x62);
    const peer = createSocket('udp4');
    let sent = 0;
    peer.on('message', (data, from) => {
      if (data.toString() !== 'flood') return;
      // 3 s of as many datagrams as the loop lets through, in bounded batches.
      const until = Date.now() + 3000;
      const batch = (): void => {
        if (Date.now() >= until) return;
        for (let i = 0; i < 50; i++) {
          peer.send(DATAGRAM, from.port, from.address);
          sent++;
        }
        setTimeout(batch, 1);
      };
      batch();
    });
    peer.bind(0, '127.0.0.1');
    await once(peer, 'listening');
    const path = `${dir.path}/udp.cfg`;
    writeFileSync(path, `[core]\nlisten = 127.0.0.1\nport = 0\nrate-limit = 256k\n[backend]\nhost = udp://127.0.0.1:${peer.address().port}\n`);
    const server = await startWebsocksy([path]);
    try {
      const client = await connect(`${server.url}/x`);
      let received = 0;
      client.ws.on('message', (data: Buffer) => (received += data.length));
      client.ws.send('flood');
      await sleep(1000);
      const from = received;
      await sleep(2000);
      const rate = (received - from) / 2;
      t.diagnostic(`udp peer → client: ${Math.round(rate)} B/s for ${RATE}; ${sent} datagrams sent`);
      assert.ok(Math.abs(rate - RATE) <= RATE * 0.25, `measured ${Math.round(rate)} B/s for a limit of ${RATE}`);
      await closeClient(client);
      const line = await server.waitForLog(/close .*dropped=(\d+)/);
      assert.ok(Number(/dropped=(\d+)/.exec(line)?.[1]) > 0);
    } finally {
      await server.stop();
      peer.close();
    }
  });
});

describe('identity-rate-limit', () => {
  let peer: Awaited<ReturnType<typeof streamServer>>;
  let server: RunningWebsocksy;
  before(async () => {
    // Every connection of the peer floods as soon as it is asked to.
    peer = await streamServer((socket) => {
      socket.once('data', () => {
        const pump = (): void => {
          while (!socket.destroyed && socket.write(CHUNK));
        };
        socket.on('drain', pump);
        pump();
      });
    });
    writeFileSync(`${dir.path}/tokens`, 'token-of-alice-0123456789 alice\ntoken-of-bob-0123456789 bob\n');
    writeFileSync(
      `${dir.path}/identity-rate.cfg`,
      `[core]\nlisten = 127.0.0.1\nport = 0\nidentity-rate-limit = 256k/s\nauth = users\n[backend]\nhost = ${peer.address}\n[auth users]\ntype = bearer\ntokens = tokens\n`,
    );
    server = await startWebsocksy([`${dir.path}/identity-rate.cfg`]);
  });
  after(async () => {
    await server.stop();
    await peer.close();
  });

  test("an authenticated user's connections share one budget; another user has its own", async (t) => {
    const as = (token: string): Promise<Awaited<ReturnType<typeof connect>>> => connect(`${server.url}/x`, undefined, { Authorization: `Bearer ${token}` });
    const clients = [await as('token-of-alice-0123456789'), await as('token-of-alice-0123456789'), await as('token-of-bob-0123456789')];
    const received = clients.map(() => 0);
    clients.forEach((client, index) => client.ws.on('message', (data: Buffer) => (received[index] = (received[index] ?? 0) + data.length)));
    try {
      for (const client of clients) client.ws.send('flood');
      await sleep(1000);
      const from = [...received];
      await sleep(3000);
      const rates = received.map((bytes, index) => (bytes - (from[index] ?? 0)) / 3);
      const alice = (rates[0] ?? 0) + (rates[1] ?? 0);
      const bob = rates[2] ?? 0;
      t.diagnostic(`alice's two connections: ${Math.round(alice)} B/s together; bob's one: ${Math.round(bob)} B/s; limit ${RATE}`);
      assert.ok(Math.abs(alice - RATE) <= RATE * 0.25, `alice: ${Math.round(alice)} B/s for a shared limit of ${RATE}`);
      assert.ok(Math.abs(bob - RATE) <= RATE * 0.25, `bob: ${Math.round(bob)} B/s for his own limit of ${RATE}`);
    } finally {
      for (const client of clients) await closeClient(client);
    }
  });
});
