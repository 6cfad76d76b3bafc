/*
 * Tunnels between two real websocksy processes: local (-L) and remote (-R) forwards against
 * real TCP servers, many streams at once, half-close, authentication and allow-lists, the
 * grace period, and the status JSON.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import type { Socket } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { freePort } from './helpers/instances.js';
import { tempDir } from './helpers/peers.js';
import { dial, exchange, exchangeServer, fetchStatus, pattern, receiveStream, startForward, startTunnelServer } from './helpers/tunnel.js';
import { runWebsocksy, type RunningWebsocksy } from './helpers/websocksy.js';

/** Resolves when the socket closes, whether by FIN or by RST (once() would reject on the RST's error). */
function closedOrReset(socket: Socket): Promise<string> {
  return new Promise((resolve) => {
    let how = 'closed';
    socket.on('error', (error: NodeJS.ErrnoException) => (how = error.code ?? error.message));
    socket.on('close', () => resolve(how));
  });
}

const dir = tempDir('websocksy-tunnel-');
const TOKEN = 'correct-horse-battery-staple';
const block = pattern(7);

describe('tunnels', () => {
  let server: RunningWebsocksy;
  let far: Awaited<ReturnType<typeof exchangeServer>>;
  let small: Awaited<ReturnType<typeof exchangeServer>>;
  before(async () => {
    far = await exchangeServer(block, 1_000_000);
    small = await exchangeServer(block, 20_000);
    server = await startTunnelServer(
      dir.path,
      `# test identities\nalice ${TOKEN} connect=127.0.0.1:${far.port},127.0.0.1:${small.port},localhost:1-1023 listen=127.0.0.1:1024-65535\nbob other-token\n`,
    );
  });
  after(async () => {
    await server.stop();
    await far.close();
    await small.close();
    dir.remove();
  });
  const url = (): string => `ws://alice@127.0.0.1:${server.port}/.tunnel`;

  /** 1 MB each way between a connection to `port` and the far end it reaches, sha256 compared. */
  async function megabyteEachWay(port: number): Promise<void> {
    const mine = exchange(await dial(port), block, 1_000_000);
    const received = await mine.received;
    const theirs = far.transfers.at(-1);
    assert.ok(theirs !== undefined);
    assert.deepEqual(received, { bytes: 1_000_000, sha256: await theirs.sent });
    assert.deepEqual(await theirs.received, { bytes: 1_000_000, sha256: await mine.sent });
  }

  test('local forward (CONNECT): 1 MB each way, byte-exact', async () => {
    const client = await startForward(['-L', `0:127.0.0.1:${far.port}`, url(), '--token', TOKEN]);
    try {
      await megabyteEachWay(client.ports[0] as number);
    } finally {
      await client.stop();
    }
  });

  test('a remote forward needs a real port: -R with port 0 is a usage error', async () => {
    const result = await runWebsocksy(['forward', '-R', `0:127.0.0.1:${far.port}`, url(), '--token', TOKEN]);
    assert.equal(result.code, 2);
    assert.match(result.stderr, /"0" is not a listen port/);
  });

  test('a remote forward binds an address on the far side: -R with a host name there is a usage error', async () => {
    const result = await runWebsocksy(['forward', '-R', `gateway.example:8080:127.0.0.1:${far.port}`, url(), '--token', TOKEN]);
    assert.equal(result.code, 2);
    assert.match(result.stderr, /the far side binds an IP address or localhost, not "gateway\.example"/);
  });

  test('remote forward (LISTEN): 1 MB each way through a port the server binds', async () => {
    const port = await freePort();
    const client = await startForward(['-R', `127.0.0.1:${port}:127.0.0.1:${far.port}`, url(), '--token', TOKEN], 1);
    try {
      await megabyteEachWay(port);
      const status = await fetchStatus(server.port);
      const session = status.server?.sessions.find((s) => s.listeners.includes(`127.0.0.1:${port}`));
      assert.ok(session !== undefined, JSON.stringify(status));
      assert.equal(session.identity, 'alice');
      assert.equal(session.state, 'attached');
    } finally {
      await client.stop();
    }
  });

  test('a restarted client takes its -R port over with the connection that waited for its old session', async () => {
    const port = await freePort();
    const args = ['-R', `127.0.0.1:${port}:127.0.0.1:${far.port}`, url(), '--token', TOKEN];
    const detached = (): number => (server.log().match(/tunnel detached /g) ?? []).length;
    const before = detached();
    const first = await startForward(args, 1);
    await first.stop();
    for (let i = 0; i < 100 && detached() === before; i++) await new Promise((resolve) => setTimeout(resolve, 50));
    assert.ok(detached() > before, 'the first session was detached (its grace is 60 s)');
    // Accepted while the only session holding the port is detached: it waits, unread.
    const mine = exchange(await dial(port), block, 1_000_000);
    const second = await startForward(args, 1);
    try {
      const timer = new Promise((_resolve, reject) => setTimeout(() => reject(new Error('the waiting connection was not served within 10 s: left with the old session')), 10_000).unref());
      const received = await Promise.race([mine.received, timer]);
      const theirs = far.transfers.at(-1);
      assert.ok(theirs !== undefined);
      assert.deepEqual(received, { bytes: 1_000_000, sha256: await theirs.sent });
      assert.deepEqual(await theirs.received, { bytes: 1_000_000, sha256: await mine.sent });
    } finally {
      await second.stop();
    }
  });

  test('200 concurrent streams, 20 kB each way each, all byte-exact', async () => {
    const client = await startForward(['-L', `0:127.0.0.1:${small.port}`, url(), '--token', TOKEN]);
    try {
      const results = await Promise.all(
        Array.from({ length: 200 }, async () => {
          const socket = await dial(client.ports[0] as number);
          const mine = exchange(socket, block, 20_000);
          return { received: await mine.received, sent: await mine.sent };
        }),
      );
      assert.equal(small.transfers.length, 200);
      const expected = await small.transfers[0]?.sent;
      for (const result of results) assert.deepEqual(result.received, { bytes: 20_000, sha256: expected });
      for (const theirs of small.transfers) assert.deepEqual(await theirs.received, { bytes: 20_000, sha256: results[0]?.sent });
    } finally {
      await client.stop();
    }
  });

  test('half-close: the client finishes sending, then still gets the whole answer', async () => {
    const { createServer } = await import('node:net');
    // Answers only after the request's FIN: counts the bytes, then sends them back as text.
    const counter = createServer({ allowHalfOpen: true }, (socket) => {
      let bytes = 0;
      socket.on('data', (chunk: Buffer) => (bytes += chunk.length));
      socket.on('end', () => socket.end(`got ${bytes}`));
    });
    counter.listen(0, '127.0.0.1');
    await once(counter, 'listening');
    const counterPort = (counter.address() as { port: number }).port;
    const identities = `${dir.path}/identities`;
    const { appendFileSync } = await import('node:fs');
    appendFileSync(identities, `carol ${TOKEN} connect=127.0.0.1:${counterPort}\n`);
    server.process.kill('SIGHUP');
    await server.waitForLog(/identities reloaded .*identities=3/);
    const client = await startForward(['-L', `0:127.0.0.1:${counterPort}`, `ws://carol@127.0.0.1:${server.port}/.tunnel`, '--token', TOKEN]);
    try {
      const socket = await dial(client.ports[0] as number);
      const answer = receiveStream(socket);
      socket.end(Buffer.alloc(300_000, 1));
      const { bytes } = await answer;
      assert.equal(bytes, 'got 300000'.length);
    } finally {
      await client.stop();
      counter.close();
    }
  });

  test('wrong token: refused with a reason on both sides, the token never logged', async () => {
    const result = await runWebsocksy(['forward', '-L', `0:127.0.0.1:${far.port}`, url(), '--token', 'not-the-token']);
    assert.equal(result.code, 1);
    assert.match(result.stderr, /tunnel refused .*why="unknown identity or wrong token"/);
    await server.waitForLog(/tunnel refused .*identity=alice why="wrong token"/);
    assert.doesNotMatch(server.log(), /not-the-token|correct-horse/);
  });

  test('destination outside the allow-list: the stream is refused, the reason logged', async () => {
    const client = await startForward(['-L', `0:127.0.0.1:${far.port + 1}`, url(), '--token', TOKEN]);
    try {
      const socket = await dial(client.ports[0] as number);
      await closedOrReset(socket);
      await server.waitForLog(new RegExp(`stream refused .*target=127\\.0\\.0\\.1:${far.port + 1} why=".*not in this identity's connect allow-list"`));
      await client.waitForLog(/stream reset .*why="refused: .*not in this identity's connect allow-list"/);
    } finally {
      await client.stop();
    }
  });

  test('listen port outside the allow-list: refused with a reason', async () => {
    const client = await startForward(['-R', `127.0.0.1:80:127.0.0.1:${far.port}`, url(), '--token', TOKEN]);
    try {
      await client.waitForLog(/remote forward refused .*why="listening on 127\.0\.0\.1:80 is not in this identity's listen allow-list"/);
      await server.waitForLog(/listen refused .*address=127\.0\.0\.1:80/);
    } finally {
      await client.stop();
    }
  });

  test('an identity with no allow-list may open a tunnel but reach nothing', async () => {
    const client = await startForward(['-L', `0:127.0.0.1:${far.port}`, `ws://bob@127.0.0.1:${server.port}/.tunnel`, '--token', 'other-token']);
    try {
      const socket = await dial(client.ports[0] as number);
      await closedOrReset(socket);
      await server.waitForLog(/stream refused .*identity=bob .*port \d+ is not in this identity's connect allow-list/);
    } finally {
      await client.stop();
    }
  });
});

describe('tunnel configuration errors name the file, line and key', () => {
  test('[tunnel] without identities', async () => {
    const cfgDir = tempDir('websocksy-tunnel-cfg-');
    try {
      const { writeFileSync } = await import('node:fs');
      writeFileSync(`${cfgDir.path}/a.cfg`, '[tunnel]\npath = /t\n');
      const result = await runWebsocksy([`${cfgDir.path}/a.cfg`]);
      assert.equal(result.code, 1);
      assert.match(result.stderr, /\[tunnel\] needs "identities = FILE"/);
      writeFileSync(`${cfgDir.path}/b.cfg`, '[upstream x]\nurl = ws://127.0.0.1:1/.tunnel\nname = a\ntoken = t\nlocal = 22:host\n');
      const bad = await runWebsocksy([`${cfgDir.path}/b.cfg`]);
      assert.equal(bad.code, 1);
      assert.match(bad.stderr, /b\.cfg:5 \[upstream x\]: local: "22:host" is not \[bind:\]port:host:port/);
      writeFileSync(`${cfgDir.path}/ids`, 'alice tok connect=10.0.0.0/33:22\n');
      writeFileSync(`${cfgDir.path}/c.cfg`, `[tunnel]\nidentities = ${cfgDir.path}/ids\n`);
      const ids = await runWebsocksy([`${cfgDir.path}/c.cfg`]);
      assert.equal(ids.code, 1);
      assert.match(ids.stderr, /ids:1: connect of identity "alice": "10\.0\.0\.0\/33" has a bad prefix length/);
      assert.doesNotMatch(ids.stderr, /tok\b/);
      writeFileSync(`${cfgDir.path}/d.cfg`, `[tunnel]\nidentities = ${cfgDir.path}/ids-ok\nmax-sessions = 0\n`);
      writeFileSync(`${cfgDir.path}/ids-ok`, 'alice tok\n');
      const sessions = await runWebsocksy([`${cfgDir.path}/d.cfg`]);
      assert.equal(sessions.code, 1);
      assert.match(sessions.stderr, /d\.cfg:3 \[tunnel\]: max-sessions: "0" is not a whole number from 1 to 1000/);
    } finally {
      cfgDir.remove();
    }
  });
});

interface OneForward {
  readonly server: RunningWebsocksy;
  readonly client: RunningWebsocksy & { ports: number[] };
  readonly far: Awaited<ReturnType<typeof exchangeServer>>;
}

/** A server with `serverExtra` in its [tunnel], one -L client to a silent far end, cleaned up after `body`. */
async function withOneForward(serverExtra: string, body: (setup: OneForward) => Promise<void>): Promise<void> {
  const ownDir = tempDir('websocksy-one-forward-');
  const far = await exchangeServer(block, 0);
  const server = await startTunnelServer(ownDir.path, `alice ${TOKEN} connect=127.0.0.1:${far.port}\n`, serverExtra);
  const client = await startForward(['-L', `0:127.0.0.1:${far.port}`, `ws://alice@127.0.0.1:${server.port}/.tunnel`, '--token', TOKEN]);
  try {
    await body({ server, client, far });
  } finally {
    await client.stop();
    await server.stop();
    await far.close();
    ownDir.remove();
  }
}

describe('grace period', () => {
  test('past the grace period the streams are reset with a clear reason', { timeout: 30_000 }, () =>
    withOneForward('grace = 1', async ({ server, client, far }) => {
      const socket = await dial(client.ports[0] as number);
      // The forward is killed under this socket: the kernel may reset it (make test once saw ECONNRESET here).
      socket.on('error', () => undefined);
      socket.write('x');
      while (far.transfers.length === 0) await new Promise((resolve) => setTimeout(resolve, 20));
      // Stop the client without a goodbye: the server keeps the session for 1 s, then resets it.
      client.process.kill('SIGKILL');
      await server.waitForLog(/tunnel detached/);
      await server.waitForLog(/session expired .*identity=alice/, 5000);
      await server.waitForLog(/stream reset .*why="session expired: the tunnel was down longer than the 1 s grace period"/, 5000);
      socket.destroy();
    }));
});

describe('stream limit', () => {
  // 64 MiB of send budget ÷ an 8 MiB window: 8 streams.
  test('a session holds at most budget ÷ window streams; one more is refused and logged', { timeout: 30_000 }, () =>
    withOneForward('window = 8m', async ({ client, far }) => {
      const sockets: Socket[] = [];
      try {
        for (let i = 0; i < 8; i++) sockets.push(await dial(client.ports[0] as number));
        for (let waited = 0; far.transfers.length < 8 && waited < 5000; waited += 20) await new Promise((resolve) => setTimeout(resolve, 20));
        assert.equal(far.transfers.length, 8);
        const ninth = await dial(client.ports[0] as number);
        sockets.push(ninth);
        // Refused at once: the forward closes it (the test's sockets allow half-open, so 'end').
        await Promise.race([once(ninth, 'end'), closedOrReset(ninth)]);
        await client.waitForLog(/connection refused: too many streams .*limit=8/);
        assert.equal(far.transfers.length, 8);
      } finally {
        for (const socket of sockets) socket.destroy();
      }
    }));
});
