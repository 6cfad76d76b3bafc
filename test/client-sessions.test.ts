/*
 * websocksy/client against the real websocksy (a resumable defaultpeer) and real TCP peers,
 * through a relay that cuts the client's connections on command: 50 drops during 50 MB each
 * way lose and double nothing, over WebSocket, over HTTP long-poll and across switches between
 * them; a client away past the grace period gets its close with 4404; and a detached session
 * whose peer keeps talking stays within session-buffer while its peer waits.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { CuttingRelay } from './helpers/cutting-relay.js';
import { hashingEcho, talkingPeer, type HashingEcho } from './helpers/hashing-peers.js';
import { streamServer, tempDir } from './helpers/peers.js';
import { recordClient, streamMessages, until, within, type ClientRecorder } from './helpers/session-client.js';
import { rssBytes } from './helpers/process-figures.js';
import { startWebsocksy, type RunningWebsocksy } from './helpers/websocksy.js';
import type { TransportChoice } from 'websocksy/client';

const BASE_ARGS = ['-l', '127.0.0.1', '-p', '0', '-k', '0'];
const MIB = 1024 * 1024;
const TOTAL = 50 * MIB;
const CUTS = 50;

interface Bench {
  readonly server: RunningWebsocksy;
  readonly relay: CuttingRelay;
  close(): Promise<void>;
}

async function bench(peer: string, extra: readonly string[] = []): Promise<Bench> {
  const server = await startWebsocksy([...BASE_ARGS, ...extra, '-c', `host=${peer}`, '-c', 'resumable=yes']);
  const relay = new CuttingRelay(server.port);
  await relay.start();
  return {
    server,
    relay,
    close: async () => {
      await relay.close();
      await server.stop();
    },
  };
}

/**
 * Streams TOTAL bytes through the echo while the relay cuts the client off CUTS times, spread
 * over the transfer by progress (so that resends cannot starve it), alternating RST and FIN;
 * `onCut` may change the relay's mind about upgrades before each cut.
 */
async function exchangeThroughCuts(server: RunningWebsocksy, echo: HashingEcho, transport: TransportChoice, onCut: (relay: CuttingRelay, cut: number) => void = () => undefined): Promise<ClientRecorder> {
  const relay = new CuttingRelay(server.port);
  await relay.start();
  const connectionsBefore = echo.connections();
  const client = recordClient(`ws://127.0.0.1:${relay.port}/echo`, { transport });
  await client.opened;
  const sender = streamMessages(client.socket, TOTAL, 64 * 1024);
  const spacing = (2 * TOTAL) / (CUTS + 2);
  let nextCutAt = spacing;
  relay.onForward = () => {
    if (relay.cuts >= CUTS || client.received() + echo.received() < nextCutAt) return;
    nextCutAt += spacing;
    onCut(relay, relay.cuts + 1);
    relay.cut(relay.cuts % 2 === 0 ? 'rst' : 'fin');
  };
  const started = Date.now();
  try {
    const sentDigest = await sender.done;
    await until(() => client.received() >= TOTAL && echo.received() >= TOTAL, 240_000, () => `client got ${client.received()}, peer got ${echo.received()} of ${TOTAL} after ${relay.cuts} cuts; events ${client.events.slice(-12).join(', ')}`);
    relay.onForward = null;
    assert.equal(relay.cuts, CUTS, 'every cut happened during the transfer');
    assert.equal(echo.received(), TOTAL, 'the peer got every byte once');
    assert.equal(echo.digest(), sentDigest, 'the peer got the bytes in order');
    assert.equal(client.received(), TOTAL, 'the client got every byte once');
    assert.equal(client.digest(), sentDigest, 'the client got the bytes in order');
    assert.equal(echo.connections() - connectionsBefore, 1, 'one peer connection for the whole session');
    assert.equal(client.events.filter((event) => event === 'open').length, 1);
    assert.ok(client.detaches.length >= 1, 'the cuts were seen');
    assert.equal(client.resumes.length, client.detaches.length, 'every detach was followed by a resume');
    assert.ok(!client.events.some((event) => event.startsWith('close') || event === 'error'), client.events.join(', '));
    client.socket.close(1000, 'done');
    const closed = await within(client.closed, 10_000, 'close event');
    assert.deepEqual([closed.code, closed.reason, closed.wasClean], [1000, 'done', true]);
    await echo.ended();
    process.stderr.write(`client ${transport}: ${CUTS} cuts, ${client.detaches.length} detaches, ${TOTAL} B each way in ${((Date.now() - started) / 1000).toFixed(1)} s, relay carried ${relay.forwarded} B\n`);
  } finally {
    relay.onForward = null;
    sender.stop();
    client.socket.close();
    await relay.close();
  }
  return client;
}

describe('websocksy/client through cuts', { timeout: 900_000 }, () => {
  let echo: HashingEcho;
  let server: RunningWebsocksy;
  before(async () => {
    echo = await hashingEcho();
    server = await startWebsocksy([...BASE_ARGS, '-c', `host=${echo.address}`, '-c', 'resumable=yes']);
  });
  after(async () => {
    await server.stop();
    await echo.close();
  });

  test('over WebSocket: 50 drops during 50 MB each way, every byte once and in order', { timeout: 300_000 }, async () => {
    const client = await exchangeThroughCuts(server, echo, 'websocket');
    assert.ok(client.resumes.every((resume) => resume.detail.transport === 'websocket'));
  });

  test('over HTTP long-poll: 50 drops during 50 MB each way, every byte once and in order', { timeout: 300_000 }, async () => {
    const client = await exchangeThroughCuts(server, echo, 'http');
    assert.ok(client.resumes.every((resume) => resume.detail.transport === 'http'));
  });

  test('switching transport at resumes (a relay that refuses upgrades every other five cuts): every byte once and in order', { timeout: 300_000 }, async () => {
    const client = await exchangeThroughCuts(server, echo, 'auto', (relay, cut) => {
      relay.blockWebSocket = Math.floor(cut / 5) % 2 === 1;
    });
    const kinds = new Set(client.resumes.map((resume) => resume.detail.transport));
    assert.deepEqual([...kinds].sort(), ['http', 'websocket'], `resumed over both: ${client.events.join(', ')}`);
  });
});

describe('websocksy/client and the grace period', { timeout: 60_000 }, () => {
  let echo: HashingEcho;
  let setup: Bench;
  before(async () => {
    echo = await hashingEcho();
    setup = await bench(echo.address, ['--session-grace', '1']);
  });
  after(async () => {
    await setup.close();
    await echo.close();
  });

  test('a client that cannot come back within grace closes with 4404', async () => {
    const client = recordClient(`ws://127.0.0.1:${setup.relay.port}/echo`, { transport: 'websocket' });
    await client.opened;
    const started = Date.now();
    setup.relay.down();
    try {
      const closed = await within(client.closed, 10_000, 'close event');
      assert.equal(closed.code, 4404);
      assert.equal(closed.wasClean, false);
      assert.match(closed.reason, /within 1 s/);
      assert.ok(Date.now() - started < 3000, 'it gave up when grace ran out');
      assert.deepEqual(client.events, ['open', 'detach', 'error', 'close 4404']);
    } finally {
      setup.relay.up();
    }
  });

  test('a client that comes back after the server forgot the session closes with the server\'s 4404', async () => {
    const opens = (): string[] => [...setup.server.log().matchAll(/session open .*?session=(\S+)/g)].map((match) => match[1] as string);
    const known = opens().length;
    const client = recordClient(`ws://127.0.0.1:${setup.relay.port}/echo`, { transport: 'websocket' });
    await client.opened;
    // The log line may come after the WELCOME: wait for it, it names the session.
    await until(() => opens().length > known, 5000, () => 'no session open line');
    const session = opens()[known] as string;
    // Only the server sees the drop: its grace runs while the client believes it is attached.
    setup.relay.cutServerSide();
    await until(() => new RegExp(`session expired .*session=${session} `).test(setup.server.log()), 5000, () => `no expiry of ${session} in the log`);
    setup.relay.cut('rst');
    const closed = await within(client.closed, 10_000, 'close event');
    assert.deepEqual([closed.code, closed.wasClean], [4404, false]);
    assert.match(closed.reason, /no-session/);
    assert.deepEqual(client.events, ['open', 'detach', 'error', 'close 4404']);
  });
});

describe('websocksy/client and the ends of a session', { timeout: 60_000 }, () => {
  test('close() that cannot reach the server gives up after closeTimeoutMs (1006), not after the session\'s grace', async () => {
    const echo = await hashingEcho();
    const setup = await bench(echo.address);
    try {
      const client = recordClient(`ws://127.0.0.1:${setup.relay.port}/echo`, { transport: 'websocket', closeTimeoutMs: 1000 });
      await client.opened;
      setup.relay.down();
      await until(() => client.events.includes('detach'), 5000, () => `events ${client.events.join(', ')}`);
      client.socket.send('queued behind the drop');
      const started = Date.now();
      client.socket.close(1000, 'bye');
      // The server's grace is 120 s: only the close timeout ends this.
      const closed = await within(client.closed, 10_000, 'close event');
      assert.deepEqual([closed.code, closed.wasClean], [1006, false]);
      assert.match(closed.reason, /the session did not end within 1 s of close\(\)/);
      assert.ok(Date.now() - started < 5000, `closed ${Date.now() - started} ms after close()`);
      assert.deepEqual(client.events, ['open', 'detach', 'error', 'close 1006']);
      assert.equal(client.socket.readyState, client.socket.CLOSED);
    } finally {
      setup.relay.up();
      await setup.close();
      await echo.close();
    }
  });

  test('the peer closing: everything it said arrives, then close with the END\'s code; the chosen subprotocol is `protocol`', async () => {
    const said = Buffer.from('hello from the peer\n'.repeat(50_000));
    const peer = await streamServer((socket) => socket.end(said));
    const server = await startWebsocksy([...BASE_ARGS, '-c', `host=${peer.address}`, '-c', 'resumable=yes', '-c', 'protocol=*']);
    try {
      const client = recordClient(`${server.url}/say`, { protocols: ['chat', 'other'] });
      await client.opened;
      assert.equal(client.socket.protocol, 'chat');
      const closed = await within(client.closed, 10_000, 'close event');
      assert.deepEqual([closed.code, closed.reason, closed.wasClean], [1000, 'Peer closed connection', true]);
      assert.equal(client.received(), said.length);
      assert.equal(client.digest(), createHash('sha256').update(said).digest('hex'));
      assert.deepEqual(client.events, ['open', 'close 1000']);
      assert.equal(client.socket.readyState, client.socket.CLOSED);
    } finally {
      await server.stop();
      await peer.close();
    }
  });

  test('a peer that is not resumable: no session, whichever transport is tried, and a close that says so', async () => {
    const echo = await hashingEcho();
    const server = await startWebsocksy([...BASE_ARGS, '-c', `host=${echo.address}`]);
    try {
      // `ws` fails an upgrade whose offered subprotocols were all declined, before `open`: that
      // looks like a network failure, so over WebSocket alone the client tries until timeoutMs.
      // Over HTTP the 409 is definite, and a browser's WebSocket opens with no subprotocol.
      for (const transport of ['auto', 'websocket', 'http'] as const) {
        const client = recordClient(`${server.url}/plain`, { transport, timeoutMs: 1000 });
        const closed = await within(client.closed, 10_000, 'close event');
        assert.deepEqual([closed.code, closed.wasClean], [1006, false], transport);
        assert.match(closed.reason, /could not open the session/, transport);
        assert.deepEqual(client.events, ['error', 'close 1006'], transport);
        if (transport !== 'websocket') assert.match(closed.reason, /HTTP 409/, transport);
      }
    } finally {
      await server.stop();
      await echo.close();
    }
  });
});

/** The most the kernel lets a TCP socket's receive (`tcp_rmem`) or send (`tcp_wmem`) buffer grow to by itself. */
function tcpBufferMax(name: 'tcp_rmem' | 'tcp_wmem'): number {
  return Number(readFileSync(`/proc/sys/net/ipv4/${name}`, 'latin1').trim().split(/\s+/)[2]);
}

describe('websocksy/client away while its peer talks', { timeout: 60_000 }, () => {
  test('the detached session keeps at most session-buffer, pauses the peer, and hands over everything once on resume', async () => {
    const peer = await talkingPeer();
    const dir = tempDir('websocksy-client-');
    const config = join(dir.path, 'websocksy.cfg');
    writeFileSync(config, ['[core]', 'listen = 127.0.0.1', 'port = 0', 'ping = 0', 'session-buffer = 1m', '[backend]', `host = ${peer.address}`, 'resumable = yes', '[status]', 'path = /.status', 'clients = loopback', ''].join('\n'));
    const server = await startWebsocksy([config]);
    const relay = new CuttingRelay(server.port);
    await relay.start();
    const client = recordClient(`ws://127.0.0.1:${relay.port}/talk`, { transport: 'websocket' });
    try {
      await client.opened;
      await until(() => client.received() > 4 * MIB, 20_000, () => `received ${client.received()}`);
      const rssBefore = rssBytes(server.process.pid ?? 0);
      relay.down();
      let session: SessionStatus | undefined;
      for (let sample = 0; sample < 100 && !(session?.state === 'detached' && session.peerPaused); sample += 1) {
        await new Promise((resolve) => setTimeout(resolve, 50));
        session = (await sessionStatus(server.port))[0];
      }
      assert.ok(session?.state === 'detached' && session.peerPaused, `detached with its peer paused: ${JSON.stringify(session)}`);
      // Paused once past the bound: one read of the peer (64 KiB) may go over it.
      assert.ok(session.buffered <= 1 * MIB + 64 * 1024, `the session holds ${session.buffered} bytes`);
      // The socket buffers between peer and websocksy still fill after the pause (the kernel may
      // grow them under load): the peer's count settles once they are full.
      let paused = peer.written();
      for (let waited = 0; waited < 10_000; waited += 500) {
        await new Promise((resolve) => setTimeout(resolve, 500));
        if (peer.written() === paused) break;
        paused = peer.written();
      }
      await new Promise((resolve) => setTimeout(resolve, 1500));
      assert.equal(peer.written(), paused, 'the peer stays paused');
      // What the peer wrote beyond what the client got: the session's bytes and the socket
      // buffers between peer and websocksy, which the kernel grows up to its own maximums
      // (tcp_rmem's and tcp_wmem's third figures: 32 MiB and 4 MiB on kernel 6.18), not ours.
      const kernelBuffers = tcpBufferMax('tcp_rmem') + tcpBufferMax('tcp_wmem');
      assert.ok(paused - client.received() <= 1 * MIB + kernelBuffers, `the peer got ${paused - client.received()} bytes ahead of the client (kernel buffers up to ${kernelBuffers})`);
      const rssGrowth = rssBytes(server.process.pid ?? 0) - rssBefore;
      assert.ok(rssGrowth < 32 * MIB, `websocksy grew by ${rssGrowth} bytes while detached`);

      relay.up();
      peer.hush();
      await until(() => client.received() >= peer.written(), 20_000, () => `client got ${client.received()} of ${peer.written()}`);
      assert.equal(client.received(), peer.written(), 'nothing doubled');
      assert.equal(client.digest(), peer.digest(), 'nothing lost, nothing out of order');
      assert.deepEqual(client.events.slice(0, 3), ['open', 'detach', 'resume websocket']);
    } finally {
      // The session ends before the relay goes: a close whose END is cut off in transit resumes
      // to deliver it until the grace runs out (two minutes), and keeps this process alive so long.
      client.socket.close();
      relay.up();
      await within(client.closed, 10_000, 'close event').catch(() => undefined);
      await relay.close();
      await server.stop();
      await peer.close();
      dir.remove();
    }
  });
});

interface SessionStatus {
  readonly state: string;
  readonly buffered: number;
  readonly peerPaused: boolean;
}

async function sessionStatus(port: number): Promise<SessionStatus[]> {
  const response = await fetch(`http://127.0.0.1:${port}/.status`, { signal: AbortSignal.timeout(5000) });
  return ((await response.json()) as { sessions: SessionStatus[] }).sessions;
}
