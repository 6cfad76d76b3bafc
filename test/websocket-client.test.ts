/*
 * Unit tests of websocksy's own WebSocket client (src/lib/websocket-client.ts: the tunnel
 * client's connection and a websocket route's upstream) against a raw TCP server that speaks
 * the server side by hand: every frame it sends is masked with its own fresh key, messages
 * split across reads and several in one read arrive whole, fragments are joined with control
 * frames between them, a ping is answered, a close frame's code and reason are reported and a
 * close from this side waits for the answer, text is checked as UTF-8, reads pause and resume,
 * and what breaks the protocol (or, for a tunnel, what a tunnel server never sends) or a wrong
 * handshake ends the connection with a reason and, where it can, a close frame that says why.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { describe, test } from 'node:test';
import { DEFAULT_UPSTREAM_TLS } from '../src/lib/tls-upstream.js';
import { websocketAccept } from '../src/lib/websocket-accept.js';
import { WebSocketClient, type WebSocketClientEvents, type WebSocketClientOptions, type WebSocketEnd } from '../src/lib/websocket-client.js';
import { until } from './helpers/session-client.js';

const PROTOCOL = 'test.v1';

/** One server frame, unmasked. */
function serverFrame(opcode: number, payload: Buffer, fin = true): Buffer {
  const length = payload.length;
  const head = length < 126 ? Buffer.from([0, length]) : length < 65536 ? Buffer.alloc(4) : Buffer.alloc(10);
  head[0] = (fin ? 0x80 : 0) | opcode;
  if (length >= 65536) {
    head[1] = 127;
    head.writeUInt32BE(Math.floor(length / 2 ** 32), 2);
    head.writeUInt32BE(length % 2 ** 32, 6);
  } else if (length >= 126) {
    head[1] = 126;
    head.writeUInt16BE(length, 2);
  }
  return Buffer.concat([head, payload]);
}

interface ClientFrame {
  readonly opcode: number;
  readonly key: Buffer;
  readonly payload: Buffer;
}

/** Parses the masked frames a client sent, as many as are complete. */
function parseClientFrames(bytes: Buffer): { frames: ClientFrame[]; rest: Buffer } {
  const frames: ClientFrame[] = [];
  let at = 0;
  for (;;) {
    if (bytes.length - at < 2) break;
    const second = bytes[at + 1] as number;
    assert.equal(second & 0x80, 0x80, 'every client frame is masked');
    let length = second & 0x7f;
    let head = 2;
    if (length === 126) {
      if (bytes.length - at < 4) break;
      length = bytes.readUInt16BE(at + 2);
      head = 4;
    } else if (length === 127) {
      if (bytes.length - at < 10) break;
      length = bytes.readUInt32BE(at + 6);
      head = 10;
    }
    if (bytes.length - at < head + 4 + length) break;
    const key = Buffer.from(bytes.subarray(at + head, at + head + 4));
    const payload = Buffer.from(bytes.subarray(at + head + 4, at + head + 4 + length));
    for (let i = 0; i < payload.length; i++) payload[i] = (payload[i] as number) ^ (key[i & 3] as number);
    frames.push({ opcode: (bytes[at] as number) & 0x0f, key, payload });
    at += head + 4 + length;
  }
  return { frames, rest: bytes.subarray(at) };
}

interface Peer {
  readonly server: Server;
  readonly url: string;
  /** The server side of the one connection, after its 101. */
  readonly socket: Promise<Socket>;
  /** Frames the client sent so far. */
  readonly received: ClientFrame[];
  /** The upgrade request's head, as the server read it. */
  readonly head: Promise<string>;
}

/** A server that answers the upgrade with `answer` (the accept key and protocol by default). */
async function peer(answer?: (key: string) => string): Promise<Peer> {
  const received: ClientFrame[] = [];
  let upgraded: (socket: Socket) => void = () => undefined;
  const socket = new Promise<Socket>((resolve) => (upgraded = resolve));
  let requested: (head: string) => void = () => undefined;
  const head = new Promise<string>((resolve) => (requested = resolve));
  const server = createServer((connection) => {
    let pending = Buffer.alloc(0);
    let open = false;
    connection.on('error', () => undefined);
    connection.on('data', (chunk: Buffer) => {
      pending = Buffer.concat([pending, chunk]);
      if (!open) {
        const end = pending.indexOf('\r\n\r\n');
        if (end < 0) return;
        requested(pending.subarray(0, end).toString());
        const key = /sec-websocket-key: *(\S+)/i.exec(pending.subarray(0, end).toString())?.[1] ?? '';
        pending = pending.subarray(end + 4);
        const accept = websocketAccept(key);
        connection.write(answer?.(key) ?? `HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${accept}\r\nSec-WebSocket-Protocol: ${PROTOCOL}\r\n\r\n`);
        open = true;
        upgraded(connection);
      }
      const { frames, rest } = parseClientFrames(pending);
      received.push(...frames);
      pending = Buffer.from(rest);
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return { server, url: `ws://127.0.0.1:${(server.address() as AddressInfo).port}/t`, socket, received, head };
}

class Events implements WebSocketClientEvents {
  readonly logFields = { test: 'websocket-client' };
  readonly messages: Buffer[] = [];
  readonly binary: boolean[] = [];
  protocol: string | null = null;
  status: number | null = null;
  reason: string | null = null;
  end: WebSocketEnd | null = null;
  abortAfterFault(reason: string): void {
    this.reason = `fault: ${reason}`;
  }
  opened(protocol: string): void {
    this.protocol = protocol;
  }
  message(data: Buffer, binary: boolean): void {
    this.messages.push(Buffer.from(data));
    this.binary.push(binary);
  }
  unexpectedResponse(status: number): void {
    this.status = status;
  }
  closed(end: WebSocketEnd): void {
    this.end = end;
    this.reason = end.why;
  }
}

/** How long a test waits for what it expects next. */
const WAIT_MS = 5000;

/** A tunnel's connection by default: binary only, the one subprotocol. */
function connect(url: string, events: Events, options: Partial<WebSocketClientOptions> = {}): WebSocketClient {
  return new WebSocketClient({ url: new URL(url), protocols: [PROTOCOL], handshakeTimeoutMs: 2000, maxPayload: 1024 * 1024, tls: DEFAULT_UPSTREAM_TLS, binaryOnly: true, ...options }, events);
}

describe('websocksy\'s WebSocket client', () => {
  test('sends masked frames, each with its own key, and receives messages split across reads or sharing one', async () => {
    const server = await peer();
    const events = new Events();
    const ws = connect(server.url, events);
    try {
      const socket = await server.socket;
      await until(() => events.protocol !== null, WAIT_MS, 'the open');
      assert.equal(events.protocol, PROTOCOL);
      const big = Buffer.alloc(200_000, 0);
      for (let i = 0; i < big.length; i++) big[i] = i % 251;
      ws.send(big);
      ws.send(Buffer.from('second'));
      ws.send(Buffer.alloc(0));
      await until(() => server.received.length === 3, WAIT_MS, 'three client frames');
      assert.deepEqual(server.received.map((frame) => frame.opcode), [2, 2, 2]);
      assert.ok(server.received[0]?.payload.equals(big));
      assert.equal(server.received[1]?.payload.toString(), 'second');
      assert.equal(server.received[2]?.payload.length, 0);
      assert.notDeepEqual(server.received[0]?.key, server.received[1]?.key);
      assert.ok(server.received.every((frame) => !frame.key.equals(Buffer.alloc(4))), 'no all-zero key');

      const split = serverFrame(2, big);
      socket.write(split.subarray(0, 3));
      await new Promise((resolve) => setTimeout(resolve, 20));
      socket.write(split.subarray(3, 70_000));
      await new Promise((resolve) => setTimeout(resolve, 20));
      socket.write(Buffer.concat([split.subarray(70_000), serverFrame(2, Buffer.from('a')), serverFrame(2, Buffer.from('b'))]));
      await until(() => events.messages.length === 3, WAIT_MS, 'three messages');
      assert.ok(events.messages[0]?.equals(big));
      assert.deepEqual(events.messages.slice(1).map((message) => message.toString()), ['a', 'b']);
    } finally {
      ws.terminate();
      server.server.close();
    }
  });

  test('answers a ping with its payload and reports a close frame\'s code and reason, answering it', async () => {
    const server = await peer();
    const events = new Events();
    const ws = connect(server.url, events);
    try {
      const socket = await server.socket;
      socket.write(serverFrame(9, Buffer.from('hi')));
      await until(() => server.received.length === 1, WAIT_MS, 'the pong');
      assert.equal(server.received[0]?.opcode, 10);
      assert.equal(server.received[0]?.payload.toString(), 'hi');
      const close = Buffer.alloc(5);
      close.writeUInt16BE(4000, 0);
      close.write('bye', 2);
      socket.write(serverFrame(8, close));
      await until(() => events.reason !== null, WAIT_MS, 'the close');
      assert.equal(events.reason, 'connection closed (4000 bye)');
      await until(() => server.received.length === 2, WAIT_MS, 'the close answer');
      assert.equal(server.received[1]?.opcode, 8);
      assert.equal(server.received[1]?.payload.readUInt16BE(0), 4000);
    } finally {
      ws.terminate();
      server.server.close();
    }
  });

  for (const [what, frame, reason] of [
    ['a text message', serverFrame(1, Buffer.from('x')), /text message/],
    ['a fragment', serverFrame(2, Buffer.from('x'), false), /fragmented/],
    ['a masked frame', Buffer.from([0x82, 0x81, 1, 2, 3, 4, 0]), /masked/],
  ] as const) {
    test(`${what} from the server ends the connection as a protocol error`, async () => {
      const server = await peer();
      const events = new Events();
      const ws = connect(server.url, events);
      try {
        (await server.socket).write(frame);
        await until(() => events.reason !== null, WAIT_MS, 'the end');
        assert.match(events.reason ?? '', reason);
        assert.equal(events.messages.length, 0);
      } finally {
        ws.terminate();
        server.server.close();
      }
    });
  }

  test('a wrong Sec-WebSocket-Accept ends the connection; a 404 is reported as the answer', async () => {
    const wrong = await peer(() => `HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: nope\r\n\r\n`);
    const events = new Events();
    const ws = connect(wrong.url, events);
    try {
      await until(() => events.reason !== null, WAIT_MS, 'the end');
      assert.match(events.reason ?? '', /Sec-WebSocket-Accept/);
      assert.equal(events.protocol, null);
    } finally {
      ws.terminate();
      wrong.server.close();
    }
    const missing = await peer(() => 'HTTP/1.1 404 Not Found\r\nContent-Length: 3\r\n\r\nno\n');
    const refused = new Events();
    const other = connect(missing.url, refused);
    try {
      await until(() => refused.status !== null, WAIT_MS, 'the answer');
      assert.equal(refused.status, 404);
    } finally {
      other.terminate();
      missing.server.close();
    }
  });
  test('a 101 trickled so slowly that it is not over within the handshake timeout ends the connection at the timeout', async () => {
    // Each piece comes well within the timeout of the last: only a deadline for the whole
    // handshake notices (an idle timer, as node:http's setTimeout is, never fires).
    const PIECE_MS = 150;
    const TIMEOUT_MS = 600;
    const server = createServer((connection) => {
      connection.on('error', () => undefined);
      connection.once('data', (request: Buffer) => {
        const key = /sec-websocket-key: *(\S+)/i.exec(request.toString())?.[1] ?? '';
        const accept = websocketAccept(key);
        const answer = Buffer.from(`HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${accept}\r\nSec-WebSocket-Protocol: ${PROTOCOL}\r\n\r\n`);
        const pieces = 16;
        let sent = 0;
        const timer = setInterval(() => {
          if (connection.destroyed || sent >= pieces) {
            clearInterval(timer);
            return;
          }
          const size = Math.ceil(answer.length / pieces);
          connection.write(answer.subarray(sent * size, (sent + 1) * size));
          sent++;
        }, PIECE_MS);
        connection.on('close', () => clearInterval(timer));
      });
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const events = new Events();
    const started = Date.now();
    const ws = connect(`ws://127.0.0.1:${(server.address() as AddressInfo).port}/t`, events, { handshakeTimeoutMs: TIMEOUT_MS });
    try {
      await until(() => events.reason !== null, WAIT_MS, 'the end');
      const took = Date.now() - started;
      assert.match(events.reason ?? '', /opening handshake timed out/);
      assert.equal(events.protocol, null, 'never opened');
      assert.ok(took >= TIMEOUT_MS - 20 && took < TIMEOUT_MS + 16 * PIECE_MS, `ended after ${took} ms, the answer taking ${16 * PIECE_MS} ms`);
    } finally {
      ws.terminate();
      server.close();
    }
  });

  /** A server's 101 choosing `protocol` (none when null). */
  const answering = (protocol: string | null) => (key: string): string =>
    `HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${websocketAccept(key)}\r\n${protocol === null ? '' : `Sec-WebSocket-Protocol: ${protocol}\r\n`}\r\n`;
  const relayOptions = { protocols: ['chat', 'v2.chat'], binaryOnly: false, headers: { 'X-Forwarded-For': '192.0.2.7' } };

  test('a relay\'s connection: headers and subprotocols offered, text and binary both ways, fragments joined around a ping', async () => {
    const server = await peer(answering('v2.chat'));
    const events = new Events();
    const ws = connect(server.url, events, relayOptions);
    try {
      const socket = await server.socket;
      const head = await server.head;
      assert.match(head, /^sec-websocket-protocol: chat, v2\.chat$/im);
      assert.match(head, /^x-forwarded-for: 192\.0\.2\.7$/im);
      await until(() => events.protocol !== null, WAIT_MS, 'the open');
      assert.equal(events.protocol, 'v2.chat');
      ws.send(Buffer.from('héllo'), false);
      ws.send(Buffer.from([0, 1, 2]), true);
      await until(() => server.received.length === 2, WAIT_MS, 'two client frames');
      assert.deepEqual(server.received.map((frame) => frame.opcode), [1, 2]);
      assert.equal(server.received[0]?.payload.toString(), 'héllo');
      // 'é' split between two fragments: checked as UTF-8 once whole, not per fragment.
      const text = Buffer.from('héllo');
      socket.write(Buffer.concat([serverFrame(1, text.subarray(0, 2), false), serverFrame(9, Buffer.from('p'))]));
      await new Promise((resolve) => setTimeout(resolve, 20));
      socket.write(Buffer.concat([serverFrame(0, text.subarray(2, 4), false), serverFrame(0, text.subarray(4)), serverFrame(2, Buffer.from([9]))]));
      await until(() => events.messages.length === 2, WAIT_MS, 'two messages');
      assert.equal(events.messages[0]?.toString(), 'héllo');
      assert.deepEqual(events.binary, [false, true]);
      assert.deepEqual([...(events.messages[1] ?? [])], [9]);
      await until(() => server.received.length === 3, WAIT_MS, 'the pong');
      assert.equal(server.received[2]?.opcode, 10);
      assert.equal(events.reason, null);
    } finally {
      ws.terminate();
      server.server.close();
    }
  });

  for (const [what, frames, code, reason] of [
    ['a text message that is not UTF-8', [serverFrame(1, Buffer.from([0x68, 0xc3]))], 1007, /not UTF-8/],
    ['fragments over maxPayload together', [serverFrame(2, Buffer.alloc(40_000), false), serverFrame(0, Buffer.alloc(40_000))], 1009, /over the 65536 allowed/],
    ['a continuation with no message begun', [serverFrame(0, Buffer.from('x'))], 1002, /continuation/],
    ['a ping of 126 bytes', [serverFrame(9, Buffer.alloc(126))], 1002, /control frame of 126 bytes/],
    ['a close frame with code 1005', [serverFrame(8, Buffer.from([0x03, 0xed]))], 1002, /code 1005/],
  ] as const) {
    test(`${what} gets a close frame with ${code} and ends the connection`, async () => {
      const server = await peer(answering(null));
      const events = new Events();
      const ws = connect(server.url, events, { ...relayOptions, protocols: [], maxPayload: 65536 });
      try {
        const socket = await server.socket;
        // A half-close after the close frame, not a reset (which could take the frame with it).
        let reset = false;
        socket.on('error', () => (reset = true));
        const ended = new Promise((resolve) => socket.once('end', resolve));
        // Bytes after the violation are still arriving when the client gives up on the connection.
        socket.write(Buffer.concat([...frames, Buffer.alloc(512 * 1024)]));
        await until(() => events.reason !== null, WAIT_MS, 'the end');
        assert.match(events.reason ?? '', reason);
        assert.equal(events.end?.code, 1006);
        assert.equal(events.messages.length, 0);
        await ended;
        assert.equal(reset, false, 'the connection was not reset');
        assert.equal(server.received.at(-1)?.opcode, 8);
        assert.equal(server.received.at(-1)?.payload.readUInt16BE(0), code);
      } finally {
        ws.terminate();
        server.server.close();
      }
    });
  }

  test('a close from this side sends its code and reason and ends when the server answers', async () => {
    const server = await peer(answering(null));
    const events = new Events();
    const ws = connect(server.url, events, { ...relayOptions, protocols: [] });
    try {
      const socket = await server.socket;
      await until(() => ws.isOpen, WAIT_MS, 'the open');
      ws.close(4001, 'gone away');
      await until(() => server.received.length === 1, WAIT_MS, 'the close frame');
      assert.equal(server.received[0]?.opcode, 8);
      assert.equal(server.received[0]?.payload.readUInt16BE(0), 4001);
      assert.equal(server.received[0]?.payload.subarray(2).toString(), 'gone away');
      ws.send(Buffer.from('late'));
      socket.end(serverFrame(8, server.received[0]?.payload.subarray(0, 2) ?? Buffer.alloc(0)));
      await until(() => events.end !== null, WAIT_MS, 'the end');
      assert.equal(events.end?.code, 4001);
      assert.equal(server.received.length, 1, 'nothing is sent after the close frame');
    } finally {
      ws.terminate();
      server.server.close();
    }
  });

  test('a subprotocol that was not offered fails the handshake; none chosen opens with none', async () => {
    const other = await peer(answering('other'));
    const refused = new Events();
    const ws = connect(other.url, refused, relayOptions);
    try {
      await until(() => refused.reason !== null, WAIT_MS, 'the end');
      assert.match(refused.reason ?? '', /subprotocol "other", which was not offered/);
      assert.equal(refused.protocol, null);
    } finally {
      ws.terminate();
      other.server.close();
    }
    const none = await peer(answering(null));
    const events = new Events();
    const plain = connect(none.url, events, relayOptions);
    try {
      await until(() => events.protocol !== null, WAIT_MS, 'the open');
      assert.equal(events.protocol, '');
    } finally {
      plain.terminate();
      none.server.close();
    }
  });

  test('pause holds messages back until resume', async () => {
    const server = await peer();
    const events = new Events();
    const ws = connect(server.url, events);
    try {
      const socket = await server.socket;
      await until(() => ws.isOpen, WAIT_MS, 'the open');
      ws.pause();
      socket.write(serverFrame(2, Buffer.from('held')));
      await new Promise((resolve) => setTimeout(resolve, 100));
      assert.equal(events.messages.length, 0);
      ws.resume();
      await until(() => events.messages.length === 1, WAIT_MS, 'the message');
      assert.equal(events.messages[0]?.toString(), 'held');
    } finally {
      ws.terminate();
      server.server.close();
    }
  });
});
