/*
 * early-upgrade: the 101 once the backend has chosen the peer, the connect finishing behind it
 * (docs/operations.md "Early upgrades"). First the connecting peer alone, over real sockets with
 * its connection handed over late; then websocksy with --early-upgrade against real peers: one
 * that echoes, one that refuses, one that never answers, and a resumable one.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createServer, type Socket } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { engine } from '../src/front/engine.js';
import { parsePeerAddress } from '../src/core/peer-address.js';
import { ConnectingPeer } from '../src/core/peer-connecting.js';
import { connectPeer, PeerConnectError, type PeerConnection, type PeerEvents } from '../src/core/peer.js';
import { blackholeOrSkip } from './helpers/blackhole.js';
import { closeClient, connect } from './helpers/client.js';
import { clientFrame, closeCodeOf, closeFrame, OPCODE, RawWebSocket } from './helpers/raw-ws.js';
import { streamServer, tcpEcho, tempDir, udpEcho, unixDgramEcho, unixEcho, type Peer } from './helpers/peers.js';
import { rawRequest, upgradeRequest } from './helpers/http.js';
import { recordClient, within } from './helpers/session-client.js';
import { corkWarnings, startWebsocksy, type RunningWebsocksy } from './helpers/websocksy.js';

/** What a connecting peer reported to its bridge. */
class Recorder implements PeerEvents {
  readonly data: Buffer[] = [];
  readonly errors: Error[] = [];
  readonly faults: string[] = [];
  readonly logFields = { id: 0 };
  peerData(chunk: Buffer): void {
    this.data.push(Buffer.from(chunk));
  }
  peerEnd(): void {}
  peerError(error: Error): void {
    this.errors.push(error);
  }
  abortAfterFault(reason: string): void {
    this.faults.push(reason);
  }
}

/** Connect times nobody reads. */
const IGNORED = { peerConnected: (): void => {} };

/** A connection that `release()` hands over, however long ago it connected. */
function heldBack(connecting: Promise<PeerConnection>): { promise: Promise<PeerConnection>; release(): void } {
  let release = (): void => {};
  const gate = new Promise<void>((resolve) => (release = resolve));
  return { promise: gate.then(() => connecting), release: () => release() };
}

/** A tcp peer that keeps what each connection sent and when it ended. */
async function recordingPeer(): Promise<Peer & { received(): Buffer; ended: Promise<void>; connected: Promise<Socket> }> {
  const chunks: Buffer[] = [];
  let ended = (): void => {};
  let connected = (_socket: Socket): void => {};
  const endedPromise = new Promise<void>((resolve) => (ended = resolve));
  const connectedPromise = new Promise<Socket>((resolve) => (connected = resolve));
  const peer = await streamServer(
    (socket) => {
      connected(socket);
      socket.on('data', (chunk: Buffer) => chunks.push(chunk));
      socket.on('end', () => {
        ended();
        socket.end();
      });
    },
    undefined,
    { allowHalfOpen: true },
  );
  return { ...peer, received: () => Buffer.concat(chunks), ended: endedPromise, connected: connectedPromise };
}

const waitFor = async (condition: () => boolean, what: string): Promise<void> => {
  for (let i = 0; i < 200 && !condition(); i++) await new Promise((resolve) => setTimeout(resolve, 10));
  assert.ok(condition(), what);
};

describe('a connecting peer (core/peer-connecting.ts)', () => {
  test('what the client sends before the connection reaches the peer first, in order; pause and resume carry over', async () => {
    const peer = await recordingPeer();
    try {
      const address = parsePeerAddress(peer.address, undefined).address;
      const held = heldBack(connectPeer(address, 5000));
      let connectedCalls = 0;
      const connecting = new ConnectingPeer(address, held.promise, { peerConnected: () => connectedCalls++ });
      const events = new Recorder();
      connecting.start(events);
      connecting.write(Buffer.from('one,'));
      connecting.write(Buffer.from('two,'));
      assert.equal(connecting.queuedBytes, 8, 'kept bytes count against peer-buffer');
      connecting.pause();
      held.release();
      const socket = await peer.connected;
      await waitFor(() => peer.received().length === 8, 'the kept messages arrive');
      assert.equal(connectedCalls, 1);
      connecting.write(Buffer.from('three'));
      await waitFor(() => peer.received().toString() === 'one,two,three', 'later writes follow them');
      socket.write('reply');
      await new Promise((resolve) => setTimeout(resolve, 100));
      assert.equal(events.data.length, 0, 'paused before the connection: nothing read');
      connecting.resume();
      await waitFor(() => Buffer.concat(events.data).toString() === 'reply', 'resumed: the reply is read');
      connecting.destroy();
    } finally {
      await peer.close();
    }
  });

  test('finished before the connection: what was kept is delivered, then the peer half-closes', async () => {
    const peer = await recordingPeer();
    try {
      const address = parsePeerAddress(peer.address, undefined).address;
      const held = heldBack(connectPeer(address, 5000));
      const connecting = new ConnectingPeer(address, held.promise, IGNORED);
      connecting.start(new Recorder());
      connecting.write(Buffer.from('last words'));
      let undelivered: number | null = null;
      connecting.finish(2000, (bytes) => (undelivered = bytes));
      held.release();
      await peer.ended;
      assert.equal(peer.received().toString(), 'last words');
      await waitFor(() => undelivered === 0, 'finish reports everything delivered');
    } finally {
      await peer.close();
    }
  });

  test('destroyed before the connection: the connection is closed once it comes, and the kept bytes are counted', async () => {
    const peer = await recordingPeer();
    try {
      const address = parsePeerAddress(peer.address, undefined).address;
      const held = heldBack(connectPeer(address, 5000));
      const connecting = new ConnectingPeer(address, held.promise, { peerConnected: () => assert.fail('no connected report after destroy') });
      connecting.start(new Recorder());
      connecting.write(Buffer.from('dropped'));
      assert.equal(connecting.destroy(), 7);
      held.release();
      await peer.ended;
      assert.equal(peer.received().length, 0);
    } finally {
      await peer.close();
    }
  });

  test('a connect that fails reaches the bridge as a PeerConnectError; a finish waiting for it is told what was lost', async () => {
    const server = createServer();
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const port = (server.address() as { port: number }).port;
    server.close();
    const address = parsePeerAddress(`tcp://127.0.0.1:${port}`, undefined).address;

    const events = new Recorder();
    const failing = new ConnectingPeer(address, connectPeer(address, 5000), IGNORED);
    failing.start(events);
    await waitFor(() => events.errors.length === 1, 'the failure is reported');
    assert.ok(events.errors[0] instanceof PeerConnectError);
    assert.match(events.errors[0].message, /ECONNREFUSED/);

    const finishing = new ConnectingPeer(address, connectPeer(address, 5000), IGNORED);
    finishing.start(new Recorder());
    finishing.write(Buffer.from('never sent'));
    const undelivered = await new Promise<number>((resolve) => finishing.finish(2000, resolve));
    assert.equal(undelivered, 10);
  });
});

describe('websocksy --early-upgrade', () => {
  let echo: Peer;
  let server: RunningWebsocksy;

  before(async () => {
    echo = await tcpEcho();
    server = await startWebsocksy(['-l', '127.0.0.1', '-p', '0', '--early-upgrade', '-c', `host=${echo.address}`]);
  });

  after(async () => {
    await server.stop();
    await echo.close();
  });

  test('the 101 is answered inside the engine\'s handler, corked (no uWS warning), and every connection echoes', async () => {
    const before = corkWarnings(server);
    const clients = await Promise.all(Array.from({ length: 30 }, () => connect(server.url)));
    await Promise.all(
      clients.map(async (client, i) => {
        client.ws.send(`message ${i}`);
        assert.equal((await client.next()).data.toString(), `message ${i}`);
      }),
    );
    await Promise.all(clients.map(closeClient));
    assert.equal(corkWarnings(server) - before, 0, `uWS ${engine().version}`);
  });
});

describe('websocksy --early-upgrade on every transport', () => {
  const dir = tempDir('websocksy-early-peers-');
  after(() => dir.remove());
  const transports: Array<[string, () => Promise<Peer>]> = [
    ['unix', () => unixEcho(join(dir.path, 'stream.sock'))],
    ['udp', () => udpEcho()],
    ['unix-dgram', () => unixDgramEcho(join(dir.path, 'dgram.sock'))],
  ];
  for (const [name, makePeer] of transports) {
    test(`${name}: messages sent at once, maybe before the peer is connected, come back whole and in order`, async () => {
      const peer = await makePeer();
      const server = await startWebsocksy(['-l', '127.0.0.1', '-p', '0', '--early-upgrade', '-c', `host=${peer.address}`, '-c', 'framing=binary']);
      try {
        const client = await connect(server.url);
        for (let i = 0; i < 5; i++) client.ws.send(Buffer.from(`message ${i}`));
        const expected = ['message 0', 'message 1', 'message 2', 'message 3', 'message 4'];
        const got: string[] = [];
        while (got.join('').length < expected.join('').length) got.push((await client.next()).data.toString());
        // A stream peer may echo several messages in one read: there only the bytes are compared.
        if (name === 'unix') assert.equal(got.join(''), expected.join(''));
        else assert.deepEqual(got, expected);
        await closeClient(client);
      } finally {
        await server.stop();
        await peer.close();
      }
    });
  }
});

describe('websocksy --early-upgrade, send then close', () => {
  test('a message and the close frame in one write right after the 101: the peer gets the message', async () => {
    const peer = await recordingPeer();
    const server = await startWebsocksy(['-l', '127.0.0.1', '-p', '0', '--early-upgrade', '-c', `host=${peer.address}`]);
    try {
      const { ws } = await RawWebSocket.open(server.port, '/');
      // Likely before the peer connect has finished: the message waits for it, and the close behind it.
      ws.socket.write(Buffer.concat([clientFrame(OPCODE.binary, Buffer.from('last words')), closeFrame(1000)]));
      assert.equal(closeCodeOf(await ws.closed()), 1000);
      await peer.ended;
      assert.equal(peer.received().toString(), 'last words');
      await server.waitForLog(/close id=\d+ .*to_peer=10 code=1000 /);
    } finally {
      await server.stop();
      await peer.close();
    }
  });
});

describe('websocksy --early-upgrade, peers that fail', () => {
  test('a peer that refuses: the client gets its 101, then close 1014 naming the peer; the log says so', async () => {
    const closed = createServer();
    closed.listen(0, '127.0.0.1');
    await once(closed, 'listening');
    const port = (closed.address() as { port: number }).port;
    closed.close();
    const server = await startWebsocksy(['-l', '127.0.0.1', '-p', '0', '--early-upgrade', '-c', `host=tcp://127.0.0.1:${port}`]);
    try {
      const client = await connect(server.url);
      const { code, reason } = await client.closed();
      assert.equal(code, 1014);
      assert.match(reason, new RegExp(`cannot connect to tcp://127\\.0\\.0\\.1:${port}: ECONNREFUSED`));
      await server.waitForLog(/close id=\d+ .*code=1014 reason="cannot connect to .*ECONNREFUSED" by=websocksy/);
      assert.doesNotMatch(server.log(), /refused /, 'not a refusal: the upgrade was answered');
    } finally {
      await server.stop();
    }
  });

  test('a peer that never answers: messages wait, then close 1014 at connect-timeout, the lost bytes counted', async (t) => {
    const hole = await blackholeOrSkip(t);
    if (hole === null) return;
    const server = await startWebsocksy(['-l', '127.0.0.1', '-p', '0', '--early-upgrade', '--connect-timeout', '0.5', '-c', `host=tcp://127.0.0.1:${hole.port}`]);
    try {
      const client = await connect(server.url);
      client.ws.send(Buffer.alloc(1000));
      client.ws.send(Buffer.alloc(500));
      const { code, reason } = await client.closed(5000);
      assert.equal(code, 1014);
      assert.match(reason, /no answer within 500 ms/);
      await server.waitForLog(/close id=\d+ .*to_peer=0 undelivered=1500 .*code=1014/);
    } finally {
      await server.stop();
      hole.close();
    }
  });

  test('a client that floods a peer still connecting is closed at peer-buffer (1013), as for a peer that stops reading', async (t) => {
    const hole = await blackholeOrSkip(t);
    if (hole === null) return;
    const server = await startWebsocksy(['-l', '127.0.0.1', '-p', '0', '--early-upgrade', '--connect-timeout', '0.5', '--max-message', '16k', '--peer-buffer', '64k', '-c', `host=tcp://127.0.0.1:${hole.port}`]);
    try {
      const client = await connect(server.url);
      const chunk = Buffer.alloc(16 * 1024);
      for (let i = 0; i < 10; i++) client.ws.send(chunk);
      const { code, reason } = await client.closed(5000);
      assert.equal(code, 1013);
      assert.match(reason, /peer is not reading/);
    } finally {
      await server.stop();
      hole.close();
    }
  });

  test('a client that leaves while its peer connects: the attempt ends with connect-timeout, and its close line is written', async (t) => {
    const hole = await blackholeOrSkip(t);
    if (hole === null) return;
    const server = await startWebsocksy(['-l', '127.0.0.1', '-p', '0', '--early-upgrade', '--connect-timeout', '0.5', '-c', `host=tcp://127.0.0.1:${hole.port}`]);
    try {
      const client = await connect(server.url);
      client.ws.send('unsent');
      await closeClient(client);
      await server.waitForLog(/close id=\d+ .*undelivered=6 .*by=client/, 5000);
    } finally {
      await server.stop();
      hole.close();
    }
  });
});

describe('early-upgrade in a configuration file', () => {
  test('turned on by a reload: the same refusing peer is a 502 before, a 101 and 1014 after', async () => {
    const closed = createServer();
    closed.listen(0, '127.0.0.1');
    await once(closed, 'listening');
    const peerPort = (closed.address() as { port: number }).port;
    closed.close();
    const dir = tempDir('websocksy-early-');
    const config = join(dir.path, 'websocksy.cfg');
    const write = (early: string): void => writeFileSync(config, `listen = 127.0.0.1\nport = 0\nearly-upgrade = ${early}\n[backend]\nhost = tcp://127.0.0.1:${peerPort}\n`);
    write('no');
    const server = await startWebsocksy([config]);
    try {
      assert.equal((await rawRequest(server.port, upgradeRequest('/'))).status, 502);
      write('yes');
      server.process.kill('SIGHUP');
      await server.waitForLog(/reloaded generation=1 /);
      const client = await connect(server.url);
      assert.equal((await client.closed()).code, 1014);
    } finally {
      await server.stop();
      dir.remove();
    }
  });
});

describe('websocksy --early-upgrade with a resumable peer', () => {
  test('a session client is answered after the connect, as without the option, and its session works', async () => {
    const echo = await tcpEcho();
    const server = await startWebsocksy(['-l', '127.0.0.1', '-p', '0', '--early-upgrade', '-c', `host=${echo.address}`, '-c', 'resumable=yes']);
    const recorder = recordClient(server.url);
    try {
      await within(recorder.opened, 5000, 'the session opens');
      recorder.socket.send('resumable');
      await waitFor(() => recorder.received() === 9, 'the echo comes back');
      await server.waitForLog(/session open .*transport=websocket/);
    } finally {
      recorder.socket.close();
      await server.stop();
      await echo.close();
    }
  });
});
