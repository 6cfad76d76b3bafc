/*
 * goaway (docs/tunnel-protocol.md, "A server that drains"): a draining server tells the tunnel
 * clients that announced it to move to a new connection. Two real instances behind one URL (a
 * relay that reaches A while it listens, then B): `websocksy forward` keeps its transfer going
 * on the old connection to A and opens new streams, and asks for its remote listeners, through
 * B; A's drain ends as soon as the old streams have. A local connection whose OPEN crossed the
 * goaway (the relay holds A's replies meanwhile) is rejected by A and moves to B, not reset. A
 * client without the feature (a raw hello) gets no goaway and keeps today's drain; one with it
 * has its late OPEN rejected.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { once } from 'node:events';
import type { Socket } from 'node:net';
import { describe, test } from 'node:test';
import { decodeControl, decodeFrame, encodeCredit, encodeData, encodeEmpty, encodeJson, FrameType, TUNNEL_SUBPROTOCOL, type Frame } from '../src/tunnel/protocol.js';
import { connect, type TestClient } from './helpers/client.js';
import { FailoverRelay } from './helpers/failover-relay.js';
import { core, freePort, startInstance, tunnelSection } from './helpers/instances.js';
import { streamServer, tcpEcho, tempDir } from './helpers/peers.js';
import { dial, exchange, exchangeServer, fetchStatus, pattern, receiveStream, startForward } from './helpers/tunnel.js';
import type { RunningWebsocksy } from './helpers/websocksy.js';

const TOKEN = 'goaway-token';
const block = pattern(11);
/** The long transfer: CHUNKS copies of `block` (64 kB) each way, one every PACE_MS (about 2 s). */
const CHUNKS = 40;
const PACE_MS = 50;

/** Writes CHUNKS chunks of `block`, one every PACE_MS, then half-closes; resolves with the sha256. */
function pacedSend(socket: Socket): Promise<string> {
  const hash = createHash('sha256');
  return new Promise((resolve) => {
    let sent = 0;
    const timer = setInterval(() => {
      if (socket.destroyed) {
        clearInterval(timer);
        resolve('destroyed');
        return;
      }
      hash.update(block);
      socket.write(block);
      if (++sent < CHUNKS) return;
      clearInterval(timer);
      socket.end();
      resolve(hash.digest('hex'));
    }, PACE_MS);
  });
}

/** How long the drain took, from its `drained` line (which must say why=all-ended). */
function drainedAllEndedMs(server: RunningWebsocksy): number {
  const match = /drained why=all-ended .*ms=(\d+)/.exec(server.log());
  assert.ok(match !== null, `no "drained why=all-ended" in:\n${server.log()}`);
  return Number(match[1]);
}

interface Pair {
  readonly dir: ReturnType<typeof tempDir>;
  readonly a: RunningWebsocksy;
  readonly b: RunningWebsocksy;
  readonly relay: FailoverRelay;
  readonly url: string;
  close(): Promise<void>;
}

/** Instances A and B (drain-timeout 30 s) behind one relay; alice may reach `ports` and listen above 1023. */
async function startPair(ports: readonly number[]): Promise<Pair> {
  const dir = tempDir('websocksy-goaway-');
  const identities = `alice ${TOKEN} connect=${ports.map((port) => `127.0.0.1:${port}`).join(',')} listen=127.0.0.1:1024-65535\n`;
  const config = (name: string): string => `${core()}drain-timeout = 30\n${tunnelSection(dir.path, name, identities)}[status]\npath = /.status\nclients = loopback\n`;
  const a = await startInstance(dir.path, 'a', config('a'));
  const b = await startInstance(dir.path, 'b', config('b'));
  const relay = await FailoverRelay.start([a.port, b.port]);
  return {
    dir, a, b, relay,
    url: `ws://alice@127.0.0.1:${relay.port}/.tunnel`,
    close: async () => {
      await relay.close();
      await a.stop('SIGKILL');
      await b.stop('SIGKILL');
      dir.remove();
    },
  };
}

describe('goaway: a draining server moves its tunnel clients to another instance', () => {
  test('-L: the transfer in progress completes over the old connection, new connections go through B, A drains early', { timeout: 60_000 }, async () => {
    const farResults: Array<{ got: { bytes: number; sha256: string }; sent: string }> = [];
    const far = await streamServer((socket) => void Promise.all([receiveStream(socket), pacedSend(socket)]).then(([got, sent]) => farResults.push({ got, sent })), undefined, { allowHalfOpen: true });
    const farPort = Number(far.address.split(':').at(-1));
    const small = await exchangeServer(block, 200_000);
    const pair = await startPair([farPort, small.port]);
    const forward = await startForward(['-L', `0:127.0.0.1:${farPort}`, '-L', `0:127.0.0.1:${small.port}`, pair.url, '--token', TOKEN]);
    try {
      assert.deepEqual(pair.relay.reached, [1, 0]);
      const long = await dial(forward.ports[0] as number);
      const received = receiveStream(long);
      const sent = pacedSend(long);
      await new Promise((resolve) => setTimeout(resolve, 400));

      pair.a.process.kill('SIGTERM');
      await forward.waitForLog(/server going away: moving to a new connection .*streams=1 remote_forwards=0/);
      await forward.waitForLog(/(tunnel up[^]*){2}/);
      assert.match(pair.a.log(), /tunnel told to go away .*streams=1/);

      // A new local connection, while the long transfer still runs on the old one.
      const fresh = exchange(await dial(forward.ports[1] as number), block, 200_000);
      const theirs = await new Promise<NonNullable<(typeof small.transfers)[number]>>((resolve) => {
        const wait = (): void => {
          const transfer = small.transfers[0];
          if (transfer === undefined) setTimeout(wait, 10);
          else resolve(transfer);
        };
        wait();
      });
      assert.deepEqual(await fresh.received, { bytes: 200_000, sha256: await theirs.sent });
      assert.deepEqual(await theirs.received, { bytes: 200_000, sha256: await fresh.sent });
      assert.equal(pair.a.process.exitCode, null, 'A still drains the long transfer');
      assert.deepEqual(pair.relay.reached, [1, 1], 'the new connection reached B');
      const onB = await fetchStatus(pair.b.port);
      assert.equal(onB.server?.sessions.length, 1);
      assert.equal(onB.server?.sessions[0]?.streamsOpened, 1);

      // The long transfer, byte-exact both ways, over the connection to A.
      const mine = await received;
      assert.equal(mine.bytes, CHUNKS * block.length);
      assert.equal(await pair.a.exited(), 0);
      const [farResult] = farResults;
      assert.ok(farResult !== undefined);
      assert.equal(mine.sha256, farResult.sent);
      assert.deepEqual(farResult.got, { bytes: CHUNKS * block.length, sha256: await sent });
      const drainMs = drainedAllEndedMs(pair.a);
      assert.ok(drainMs < 10_000, `A drained in ${drainMs} ms (deadline 30 s)`);
      assert.match(pair.a.log(), /tunnel closed .*why="server going away: every stream has ended"[^]*drained why=all-ended/);
      assert.equal(forward.log().match(/server going away: moving/g)?.length, 1);
      assert.doesNotMatch(forward.log(), /tunnel down|stream reset|old connection closed before/);
    } finally {
      await forward.stop();
      await pair.close();
      await far.close();
      await small.close();
    }
  });

  test('-L: a connection whose OPEN crossed the goaway is rejected by A and moves to B, byte-exact', { timeout: 60_000 }, async () => {
    const echo = await tcpEcho();
    const echoPort = Number(echo.address.split(':').at(-1));
    const small = await exchangeServer(block, 100_000);
    const pair = await startPair([echoPort, small.port]);
    const forward = await startForward(['-L', `0:127.0.0.1:${echoPort}`, '-L', `0:127.0.0.1:${small.port}`, pair.url, '--token', TOKEN]);
    try {
      // A stream that keeps A's session (and A) up through its drain.
      const idle = await dial(forward.ports[0] as number);
      idle.write('x');
      await once(idle, 'data');

      // A's goaway is held on the way back: the client opens one more stream on the session A retired.
      pair.relay.hold();
      pair.a.process.kill('SIGTERM');
      await pair.a.waitForLog(/tunnel told to go away .*streams=1/);
      const crossed = exchange(await dial(forward.ports[1] as number), block, 100_000);
      await pair.a.waitForLog(/stream refused .*why="the server is going away/);
      pair.relay.release();

      await forward.waitForLog(/stream moved to the new connection .*target=127\.0\.0\.1:\d+/);
      const received = await crossed.received;
      const theirs = small.transfers[0];
      assert.ok(theirs !== undefined);
      assert.deepEqual(received, { bytes: 100_000, sha256: await theirs.sent });
      assert.deepEqual(await theirs.received, { bytes: 100_000, sha256: await crossed.sent });
      assert.equal(small.transfers.length, 1, 'the far side saw one connection: nothing went twice');
      assert.deepEqual(pair.relay.reached, [1, 1], 'the moved connection went through B');
      assert.doesNotMatch(forward.log(), /stream reset|tunnel down/);
      idle.end();
      assert.equal(await pair.a.exited(), 0);
    } finally {
      await forward.stop();
      await pair.close();
      await echo.close();
      await small.close();
    }
  });

  test('-R: the remote listener moves from A to B', { timeout: 60_000 }, async () => {
    const small = await exchangeServer(block, 100_000);
    const pair = await startPair([small.port]);
    const port = await freePort();
    const forward = await startForward(['-R', `127.0.0.1:${port}:127.0.0.1:${small.port}`, pair.url, '--token', TOKEN], 1);
    /** 100 kB each way through `port`, compared with what the far end saw. */
    const through = async (index: number): Promise<void> => {
      const mine = exchange(await dial(port), block, 100_000);
      const received = await mine.received;
      const theirs = small.transfers[index];
      assert.ok(theirs !== undefined);
      assert.deepEqual(received, { bytes: 100_000, sha256: await theirs.sent });
      assert.deepEqual(await theirs.received, { bytes: 100_000, sha256: await mine.sent });
    };
    try {
      await through(0);
      pair.a.process.kill('SIGTERM');
      await forward.waitForLog(/server going away: moving to a new connection .*streams=0 remote_forwards=1/);
      await forward.waitForLog(/(remote_port=\d+[^]*){2}/);
      await through(1);
      const onB = await fetchStatus(pair.b.port);
      assert.deepEqual(onB.server?.sessions.map((session) => session.listeners), [[`127.0.0.1:${port}`]]);
      assert.equal(await pair.a.exited(), 0);
      assert.ok(drainedAllEndedMs(pair.a) < 5000);
      assert.doesNotMatch(forward.log(), /tunnel down|remote forward refused/);
    } finally {
      await forward.stop();
      await pair.close();
      await small.close();
    }
  });
});

/** A raw tunnel client: the protocol codec over a plain WebSocket. */
class RawTunnel {
  private constructor(readonly ws: TestClient) {}

  static async open(port: number, features: readonly string[] | undefined): Promise<RawTunnel> {
    const ws = await connect(`ws://127.0.0.1:${port}/.tunnel`, TUNNEL_SUBPROTOCOL);
    ws.ws.send(encodeJson(FrameType.control, 0, { type: 'hello', version: 1, name: 'alice', token: TOKEN, ...(features === undefined ? {} : { features }) }));
    const tunnel = new RawTunnel(ws);
    const welcome = decodeControl((await tunnel.next()).body);
    assert.equal(welcome.type, 'welcome', JSON.stringify(welcome));
    return tunnel;
  }

  async next(): Promise<Frame> {
    return decodeFrame((await this.ws.next(5000)).data);
  }

  /** The next frame that is not a CREDIT (sent as the server's socket takes data). */
  async nextBut(skip: FrameType = FrameType.credit): Promise<Frame> {
    for (;;) {
      const frame = await this.next();
      if (frame.type !== skip) return frame;
    }
  }

  send(frame: Buffer): void {
    this.ws.ws.send(frame);
  }

  /** Opens stream `id` to `port`; resolves with the answer's type. */
  async open(id: number, port: number): Promise<Frame> {
    this.send(encodeJson(FrameType.open, id, { host: '127.0.0.1', port }));
    return this.nextBut();
  }

  /** Sends `text` on stream `id` and returns the echo's frame. */
  async echo(id: number, text: string): Promise<Frame> {
    this.send(encodeData(id, Buffer.from(text)));
    return this.nextBut();
  }
}

describe('goaway needs the announcement', () => {
  test('a client that did not announce goaway gets none: its stream goes on and an OPEN during the drain is accepted, as before', { timeout: 30_000 }, async () => {
    const echo = await tcpEcho();
    const echoPort = Number(echo.address.split(':').at(-1));
    const pair = await startPair([echoPort]);
    try {
      const old = await RawTunnel.open(pair.a.port, undefined);
      assert.equal((await old.open(1, echoPort)).type, FrameType.accept);
      assert.equal((await old.echo(1, 'before')).body.toString(), 'before');
      pair.a.process.kill('SIGTERM');
      await pair.a.waitForLog(/draining /);
      const during = await old.echo(1, 'during');
      assert.deepEqual({ type: during.type, body: during.body.toString() }, { type: FrameType.data, body: 'during' });
      assert.equal((await old.open(3, echoPort)).type, FrameType.accept);
      assert.deepEqual(old.ws.takeAll().map((message) => decodeFrame(message.data).type).filter((type) => type === FrameType.control), []);
      assert.doesNotMatch(pair.a.log(), /told to go away/);
      assert.equal(pair.a.process.exitCode, null, 'A waits for the streams');
    } finally {
      await pair.close();
      await echo.close();
    }
  });

  test('a client that announced it: goaway, a later OPEN is rejected, and the session closes once its stream has ended', { timeout: 30_000 }, async () => {
    const echo = await tcpEcho();
    const echoPort = Number(echo.address.split(':').at(-1));
    const pair = await startPair([echoPort]);
    try {
      const tunnel = await RawTunnel.open(pair.a.port, ['goaway']);
      assert.equal((await tunnel.open(1, echoPort)).type, FrameType.accept);
      assert.equal((await tunnel.echo(1, 'before')).body.toString(), 'before');
      pair.a.process.kill('SIGTERM');
      const goaway = await tunnel.nextBut();
      assert.equal(goaway.type, FrameType.control);
      assert.deepEqual(decodeControl(goaway.body), { type: 'goaway' });
      const late = await tunnel.open(3, echoPort);
      assert.equal(late.type, FrameType.reject);
      assert.match(late.body.toString(), /the server is going away: open the stream on a new connection/);
      // Stream 1 ends in order: our FIN, the echo's FIN back, then each side credits the other's.
      tunnel.send(encodeEmpty(FrameType.fin, 1));
      assert.equal((await tunnel.nextBut()).type, FrameType.fin);
      tunnel.send(encodeCredit(1, 'before'.length + 1));
      const closed = await tunnel.ws.closed(5000);
      assert.match(closed.reason, /server going away: every stream has ended/);
      assert.equal(await pair.a.exited(), 0);
      assert.ok(drainedAllEndedMs(pair.a) < 5000);
    } finally {
      await pair.close();
      await echo.close();
    }
  });
});
