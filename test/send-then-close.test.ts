/*
 * Send-then-close on every peer transport: what a client sent right before its close frame
 * reaches the peer, N of N connections, and the close line counts exactly what arrived. The
 * other direction too: a stream peer that writes then closes gets every frame to the client,
 * then a 1000 close.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { after, describe, test } from 'node:test';
import WebSocket from 'ws';
import { connect, type TestClient } from './helpers/client.js';
import { assertCloseLinesCount, assertDelivered, closeLines, sent, type Sent } from './helpers/delivery.js';
import { streamServer, tempDir } from './helpers/peers.js';
import { clientFrame, closeCodeOf, closeFrame, OPCODE, RawWebSocket } from './helpers/raw-ws.js';
import { recordingStreamPeer, recordingUdpPeer, recordingUnixDgramPeer, totalLength, type RecordingPeer } from './helpers/recorders.js';
import { startWebsocksy, type RunningWebsocksy } from './helpers/websocksy.js';

const CONNECTIONS = 50;
const LOCAL = ['-l', '127.0.0.1', '-p', '0'];

interface Transport {
  readonly name: string;
  readonly peer: (dir: string) => Promise<RecordingPeer>;
  /** Connections open at once: a datagram peer's receive queue is small (unix: 10 datagrams). */
  readonly concurrency: number;
  /** Largest message: a datagram is at most 64 KiB; stream messages go past the write batch's own-buffer size. */
  readonly largest: number;
}

/** A fresh socket path per test: a unix socket's file outlives its server. */
let sockets = 0;
const socketPath = (dir: string): string => `${dir}/peer-${++sockets}.sock`;

const TRANSPORTS: readonly Transport[] = [
  { name: 'tcp', peer: () => recordingStreamPeer(), concurrency: CONNECTIONS, largest: 100_000 },
  { name: 'unix', peer: (dir) => recordingStreamPeer(socketPath(dir)), concurrency: CONNECTIONS, largest: 100_000 },
  { name: 'udp', peer: () => recordingUdpPeer(opensConnection), concurrency: 10, largest: 1500 },
  { name: 'unix-dgram', peer: (dir) => recordingUnixDgramPeer(socketPath(dir), opensConnection), concurrency: 10, largest: 1500 },
];

/**
 * Connection `i`'s messages, sizes differing per connection: a text, a large binary one (on
 * streams, larger than the write batch copies into its shared slab) and a small binary one last,
 * which waits in the slab when the close comes.
 */
/** Each connection's first message; a datagram peer tells connections apart by it (ports get reused). */
function opensConnection(datagram: Buffer): boolean {
  return /^connection \d+ says hello$/.test(datagram.toString('latin1'));
}

function messagesFor(i: number, largest: number): Sent {
  return sent([Buffer.from(`connection ${i} says hello`), randomBytes(largest - i * 13), randomBytes(100 + i * 7)]);
}

/** Runs `one` for connections 0..count-1, `concurrency` at a time. */
async function inWaves(count: number, concurrency: number, one: (i: number) => Promise<void>): Promise<void> {
  for (let start = 0; start < count; start += concurrency) {
    const wave: Promise<void>[] = [];
    for (let i = start; i < Math.min(count, start + concurrency); i++) wave.push(one(i));
    await Promise.all(wave);
  }
}

/** Frames, then the close frame, all in one TCP write; resolves with the server's close code. */
async function rawSendThenClose(server: RunningWebsocksy, messages: readonly Buffer[]): Promise<number | null> {
  const { ws } = await RawWebSocket.open(server.port, '/');
  const frames = messages.map((message, n) => clientFrame(n === 0 ? OPCODE.text : OPCODE.binary, message));
  ws.write(Buffer.concat([...frames, closeFrame(1000, 'bye')]));
  return closeCodeOf(await ws.closed());
}

/** `ws`: send(x) for each message, then close() at once, as an application would. */
async function wsSendThenClose(server: RunningWebsocksy, messages: readonly Buffer[]): Promise<number> {
  const ws = new WebSocket(server.url, { perMessageDeflate: false });
  await once(ws, 'open');
  messages.forEach((message, n) => ws.send(message, { binary: n > 0 }));
  ws.close(1000, 'bye');
  const [code] = (await once(ws, 'close')) as [number];
  return code;
}

/** Every client sends 100 bytes each millisecond until it sees the close; resolves with the bytes sent and the close codes. */
async function sendUntilClosed(clients: readonly TestClient[]): Promise<{ sentBytes: number; codes: number[] }> {
  let sentBytes = 0;
  const message = Buffer.alloc(100, 0x61);
  const sender = setInterval(() => {
    for (const client of clients) {
      if (client.ws.readyState !== WebSocket.OPEN) continue;
      client.ws.send(message);
      sentBytes += message.length;
    }
  }, 1);
  try {
    const codes = await Promise.all(clients.map(async (client) => (await client.closed(20_000)).code));
    return { sentBytes, codes };
  } finally {
    clearInterval(sender);
  }
}

/**
 * The close lines' to_peer are exactly what the peer's connections got. uWS ignores frames that
 * arrive after it sent its close frame, so messages in flight then are lost: not counted either.
 */
async function assertCountedAsArrived(server: RunningWebsocksy, peer: RecordingPeer, connections: number): Promise<string> {
  const got = await peer.waitFor(connections, 0);
  const counted = (await closeLines(server, connections)).map((line) => Number(/\bto_peer=(\d+)/.exec(line)?.[1]));
  assert.deepEqual(counted.sort((a, b) => a - b), got.map((bytes) => bytes.length).sort((a, b) => a - b));
  return `peers got ${totalLength(got)}, close lines count ${counted.reduce((sum, bytes) => sum + bytes, 0)}`;
}

describe('send-then-close: the peer gets every byte sent before the close frame', () => {
  const dir = tempDir();
  after(() => dir.remove());

  const clients: Array<[string, (server: RunningWebsocksy, messages: readonly Buffer[]) => Promise<number | null>]> = [
    ['data frames and close frame in one TCP write', rawSendThenClose],
    ["ws's send(); close()", wsSendThenClose],
  ];
  for (const transport of TRANSPORTS) {
    for (const [how, sendThenClose] of clients) {
      test(`${transport.name}: ${how}, ${CONNECTIONS} connections`, { timeout: 60_000 }, async () => {
        const peer = await transport.peer(dir.path);
        const server = await startWebsocksy([...LOCAL, '-c', `host=${peer.address}`]);
        try {
          const expected = Array.from({ length: CONNECTIONS }, (_, i) => messagesFor(i, transport.largest));
          const codes: Array<number | null> = [];
          await inWaves(CONNECTIONS, transport.concurrency, async (i) => {
            codes.push(await sendThenClose(server, (expected[i] as Sent).messages));
          });
          const unclean = server.log().split('\n').filter((line) => /code=(?!1000\b)\d+|internal error/.test(line));
          assert.deepEqual(codes, Array.from({ length: CONNECTIONS }, () => 1000), `every close answered with 1000; websocksy's other closes:\n${unclean.slice(-10).join('\n')}`);
          await assertDelivered(peer, expected);
          await assertCloseLinesCount(server, expected);
        } finally {
          await server.stop();
          await peer.close();
        }
      });
    }
  }
});

describe('write-then-close: the client gets every frame a stream peer sent before its EOF', () => {
  const dir = tempDir();
  after(() => dir.remove());

  /** Connection i's lines: many short ones and a few long ones, then the peer's FIN. */
  const linesFor = (i: number): string[] =>
    Array.from({ length: 200 + i }, (_, n) => (n % 50 === 49 ? `${i}:${n}:${'x'.repeat(60_000 + n)}\r\n` : `${i}:${n}\r\n`));

  for (const [name, path] of [
    ['tcp', undefined],
    ['unix', 'lines.sock'],
  ] as const) {
    test(`${name}: ${CONNECTIONS} peers write lines and close; each client gets them all, then 1000`, { timeout: 60_000 }, async () => {
      let accepted = 0;
      const peer = await streamServer(
        (socket) => {
          const lines = linesFor(accepted++);
          socket.write(lines.join(''));
          socket.end();
        },
        path === undefined ? undefined : `${dir.path}/${path}`,
      );
      const server = await startWebsocksy([...LOCAL, '-c', `host=${peer.address}`, '-c', 'framing=newline']);
      try {
        const results = await Promise.all(
          Array.from({ length: CONNECTIONS }, async () => {
            const client = await connect(server.url);
            const closed = await client.closed(30_000);
            return { messages: client.takeAll().map((message) => message.data.toString()), closed };
          }),
        );
        // Peers number their connections in accept order, so each client finds its own lines by their prefix.
        for (const { messages, closed } of results) {
          const i = Number(messages[0]?.split(':')[0]);
          assert.deepEqual(messages, linesFor(i), `connection ${i} got every line in order`);
          assert.deepEqual(closed, { code: 1000, reason: 'Peer closed connection' });
        }
        assert.deepEqual(
          results.map(({ messages }) => Number(messages[0]?.split(':')[0])).sort((a, b) => a - b),
          Array.from({ length: CONNECTIONS }, (_, i) => i),
        );
      } finally {
        await server.stop();
        await peer.close();
      }
    });
  }
});

describe('shutdown: SIGTERM (drain-timeout 0) right after clients sent, to peers that are not reading yet', () => {
  test(`${CONNECTIONS} clients: every peer still gets every byte, clients get 1001, exit 0`, { timeout: 60_000 }, async () => {
    const peer = await recordingStreamPeer(undefined, { paused: true });
    const server = await startWebsocksy([...LOCAL, '--drain-timeout', '0', '-c', `host=${peer.address}`]);
    try {
      const expected = Array.from({ length: CONNECTIONS }, (_, i) => sent([...messagesFor(i, 300_000).messages, randomBytes(200_000 + i)]));
      const clients = await Promise.all(
        expected.map(async ({ messages }) => {
          const client = await connect(server.url);
          messages.forEach((message, n) => client.ws.send(message, { binary: n > 0 }));
          // uWS answers a ping in order, after the messages before it went to websocksy.
          client.ws.ping();
          await once(client.ws, 'pong');
          return client;
        }),
      );
      const exited = server.stop('SIGTERM');
      setTimeout(() => peer.resume(), 300);
      await assertDelivered(peer, expected);
      for (const client of clients) assert.deepEqual(await client.closed(), { code: 1001, reason: 'Shutting down' });
      assert.equal(await exited, 0);
      await assertCloseLinesCount(server, expected);
    } finally {
      await server.stop('SIGKILL');
      await peer.close();
    }
  });

  test('SIGTERM amid a stream of messages: the close lines count exactly what the peers got', { timeout: 60_000 }, async (t) => {
    const peer = await recordingStreamPeer();
    const server = await startWebsocksy([...LOCAL, '--drain-timeout', '0', '-c', `host=${peer.address}`]);
    try {
      const clients = await Promise.all(Array.from({ length: 20 }, () => connect(server.url)));
      const sending = sendUntilClosed(clients);
      await new Promise((resolve) => setTimeout(resolve, 300));
      const exited = server.stop('SIGTERM');
      const { sentBytes, codes } = await sending;
      assert.deepEqual(new Set(codes), new Set([1001]));
      assert.equal(await exited, 0);
      t.diagnostic(`sent ${sentBytes} bytes before the clients saw 1001; ${await assertCountedAsArrived(server, peer, clients.length)}`);
    } finally {
      await server.stop('SIGKILL');
      await peer.close();
    }
  });
});

describe('a stream peer that ends its side amid a stream of client messages', () => {
  test('clients get 1000, and the close lines count exactly what the peers got', { timeout: 60_000 }, async (t) => {
    const peer = await recordingStreamPeer(undefined, { endAfterMs: 200 });
    const server = await startWebsocksy([...LOCAL, '--drain-timeout', '0', '-c', `host=${peer.address}`]);
    try {
      const clients = await Promise.all(Array.from({ length: 20 }, () => connect(server.url)));
      const { sentBytes, codes } = await sendUntilClosed(clients);
      assert.deepEqual(new Set(codes), new Set([1000]));
      t.diagnostic(`sent ${sentBytes} bytes before the clients saw 1000; ${await assertCountedAsArrived(server, peer, clients.length)}`);
    } finally {
      await server.stop();
      await peer.close();
    }
  });
});

describe('a stream peer that takes nothing within the linger time (5 s)', () => {
  test('the close line counts as delivered only what the peer got, and the rest as undelivered', { timeout: 60_000 }, async (t) => {
    const peer = await recordingStreamPeer(undefined, { paused: true });
    // More than the kernel's buffers hold, under a peer-buffer raised so nothing closes with 1013.
    const server = await startWebsocksy([...LOCAL, '--peer-buffer', '64m', '-c', `host=${peer.address}`]);
    try {
      const messages = Array.from({ length: 12 }, () => randomBytes(1024 * 1024));
      const clients = await Promise.all([connect(server.url), connect(server.url)]);
      for (const client of clients) {
        for (const message of messages) client.ws.send(message);
        client.ws.close(1000);
      }
      const lines = await closeLines(server, clients.length, 15_000);
      peer.resume();
      const got = await peer.waitFor(clients.length, 0, 15_000);
      const total = totalLength(messages);
      const counts = lines.map((line) => ({ toPeer: Number(/\bto_peer=(\d+)/.exec(line)?.[1]), undelivered: Number(/\bundelivered=(\d+)/.exec(line)?.[1] ?? 0) }));
      for (const { toPeer, undelivered } of counts) assert.equal(toPeer + undelivered, total, `every byte is counted once: ${lines.join('\n')}`);
      const arrived = got.map((bytes) => bytes.length).sort((a, b) => a - b);
      const counted = counts.map(({ toPeer }) => toPeer).sort((a, b) => a - b);
      arrived.forEach((bytes, i) => {
        assert.ok(bytes < total, 'the peer did not get everything');
        assert.ok((counted[i] as number) <= bytes, `to_peer=${counted[i]} but the peer got ${bytes}`);
      });
      // Bytes of the write in progress that the kernel had taken are still counted as undelivered.
      t.diagnostic(`peer got ${arrived.join(', ')} bytes; close lines count ${counted.join(', ')} delivered`);
    } finally {
      await server.stop();
      await peer.close();
    }
  });
});
