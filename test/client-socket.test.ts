/*
 * ResumableSocket's own rules, against a scripted WebSocket in the test process (the library
 * takes any class of the WebSocket shape): what it offers and sends, its events, `binaryType`,
 * the 250 ms acknowledgement, and close() as END; plus the argument checks of the WebSocket API.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { ResumableSocket, type SocketCloseEvent, type WebSocketLike } from 'websocksy/client';
import { decodeAck, decodeMessageRecord, encodeAck, encodeMessageRecord, RecordType } from '../src/client/records.js';

type Listener = (event: never) => void;

/** A WebSocket whose server side the test plays: it records what the client sends. */
class ScriptedSocket implements WebSocketLike {
  static last: ScriptedSocket | null = null;
  binaryType = 'blob';
  protocol = '';
  readonly sent: Array<{ type: number; body: Uint8Array }> = [];
  closedWith: number | undefined;
  private readonly listeners = new Map<string, Listener[]>();

  constructor(
    readonly url: string,
    readonly protocols: string[],
  ) {
    ScriptedSocket.last = this;
  }

  addEventListener(type: string, listener: Listener): void {
    this.listeners.set(type, [...(this.listeners.get(type) ?? []), listener]);
  }

  send(data: Uint8Array<ArrayBuffer>): void {
    const record = decodeMessageRecord(data);
    this.sent.push({ type: record.type, body: record.body.slice() });
  }

  close(code?: number): void {
    this.closedWith ??= code;
  }

  emit(type: string, event: object = {}): void {
    for (const listener of this.listeners.get(type) ?? []) (listener as (event: object) => void)(event);
  }

  serverOpens(welcome: object): void {
    this.protocol = 'websocksy.session.v1';
    this.emit('open');
    this.serverSends(RecordType.WELCOME, new TextEncoder().encode(JSON.stringify(welcome)));
  }

  serverSends(type: number, body: Uint8Array): void {
    this.emit('message', { data: encodeMessageRecord(type as RecordType, body).buffer });
  }
}

const WELCOME = { v: 1, session: 'AAAAAAAAAAAAAAAA', secret: 'BBBBBBBBBBBBBBBBBBBBBB', resumed: false, protocol: 'chat', received: 0, path: '/.websocksy/session', grace: 5, window: 100, ackBytes: 1000 };
const tick = (ms = 0): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

describe('ResumableSocket against a scripted server', () => {
  test('open, messages as Blob, an ACK within 250 ms, window and queue, close() as END', async () => {
    const socket = new ResumableSocket('ws://example.test/chat', { WebSocket: ScriptedSocket, protocols: 'chat' });
    const events: string[] = [];
    const data: unknown[] = [];
    socket.onopen = () => events.push('open');
    socket.onmessage = (event) => data.push(event.data);
    const closed = new Promise<SocketCloseEvent>((resolve) => (socket.onclose = resolve));
    socket.binaryType = 'blob';
    socket.send('early');
    assert.equal(socket.readyState, ResumableSocket.CONNECTING);
    await tick();
    const server = ScriptedSocket.last ?? assert.fail('no WebSocket made');
    assert.equal(server.url, 'ws://example.test/chat');
    assert.deepEqual(server.protocols, ['websocksy.session.v1', 'chat'], 'the session subprotocol first, then the application\'s');
    server.serverOpens(WELCOME);
    await tick();
    assert.deepEqual(events, ['open']);
    assert.equal(socket.readyState, ResumableSocket.OPEN);
    assert.equal(socket.protocol, 'chat');
    assert.deepEqual(server.sent.map((record) => record.type), [RecordType.TEXT], 'what was sent before open goes after the WELCOME');

    server.serverSends(RecordType.BINARY, Uint8Array.from([1, 2, 3]));
    server.serverSends(RecordType.TEXT, new TextEncoder().encode('hé'));
    assert.ok(data[0] instanceof Blob);
    assert.deepEqual([...new Uint8Array(await (data[0] as Blob).arrayBuffer())], [1, 2, 3]);
    assert.equal(data[1], 'hé');
    assert.equal(server.sent.length, 1, 'no ACK yet: under ackBytes');
    await tick(300);
    assert.deepEqual(server.sent.slice(1).map((record) => [record.type, decodeAck(record.body)]), [[RecordType.ACK, 6]], 'the trickle is acknowledged within 250 ms');

    // 'early' (5 bytes) is in flight; the window is 100: 90 more go, the next 10 wait.
    socket.send(new Uint8Array(90));
    socket.send(new Uint8Array(10).buffer);
    assert.equal(server.sent.filter((record) => record.type === RecordType.BINARY).length, 1);
    assert.equal(socket.bufferedAmount, 105);
    server.serverSends(RecordType.ACK, encodeAck(5));
    assert.equal(server.sent.filter((record) => record.type === RecordType.BINARY).length, 2, 'an ACK lets the queued message go');
    assert.equal(socket.bufferedAmount, 100);

    socket.close(4000, 'bye');
    assert.equal(socket.readyState, ResumableSocket.CLOSING);
    const end = server.sent.at(-1) ?? assert.fail();
    assert.equal(end.type, RecordType.END);
    assert.deepEqual(JSON.parse(new TextDecoder().decode(end.body)), { code: 4000, reason: 'bye' });
    socket.send('dropped after close()');
    assert.equal(server.sent.at(-1), end);
    server.emit('close', { code: 1000, reason: '' });
    const event = await closed;
    assert.deepEqual([event.code, event.reason, event.wasClean], [4000, 'bye', true]);
    assert.equal(socket.readyState, ResumableSocket.CLOSED);
  });

  test('a detach, then a resume with a HELLO; the server\'s count decides what is sent again', async () => {
    const socket = new ResumableSocket('ws://example.test/chat', { WebSocket: ScriptedSocket, minDelayMs: 1, maxDelayMs: 2 });
    const events: string[] = [];
    socket.ondetach = (event) => events.push(`detach ${event.detail.transport} ${event.detail.code}`);
    socket.onresume = (event) => events.push(`resume ${event.detail.transport} ${event.detail.attempt}`);
    await tick();
    const first = ScriptedSocket.last ?? assert.fail();
    first.serverOpens(WELCOME);
    await tick();
    socket.send('one');
    socket.send('two');
    first.serverSends(RecordType.TEXT, new TextEncoder().encode('hello'));
    first.emit('close', { code: 1006, reason: '' });
    assert.deepEqual(events, ['detach websocket 1006']);
    assert.equal(socket.readyState, ResumableSocket.OPEN, 'a drop is not a close');
    for (let wait = 0; wait < 100 && ScriptedSocket.last === first; wait += 1) await tick(5);
    const second = ScriptedSocket.last ?? assert.fail();
    assert.equal(second.url, 'ws://example.test/.websocksy/session');
    assert.deepEqual(second.protocols, ['websocksy.session.v1']);
    second.protocol = 'websocksy.session.v1';
    second.emit('open');
    const hello = second.sent[0] ?? assert.fail('no HELLO');
    assert.equal(hello.type, RecordType.HELLO);
    assert.deepEqual(JSON.parse(new TextDecoder().decode(hello.body)), { v: 1, session: WELCOME.session, secret: WELCOME.secret, received: 5, takeover: true });
    second.serverSends(RecordType.WELCOME, new TextEncoder().encode(JSON.stringify({ ...WELCOME, secret: undefined, resumed: true, received: 3 })));
    await tick();
    assert.deepEqual(events, ['detach websocket 1006', 'resume websocket 1']);
    assert.deepEqual(second.sent.slice(1).map((record) => new TextDecoder().decode(record.body)), ['two'], 'the server had "one": only "two" goes again');
    // The server ends the session too: left waiting, close() would hold the process for its 30 s bound.
    const closed = new Promise<SocketCloseEvent>((resolve) => (socket.onclose = resolve));
    socket.close();
    second.emit('close', { code: 1000, reason: '' });
    assert.equal((await closed).code, 1000);
  });

  test('the WebSocket API\'s argument checks', () => {
    assert.throws(() => new ResumableSocket('ftp://example.test/', { WebSocket: ScriptedSocket }), SyntaxError);
    assert.throws(() => new ResumableSocket('ws://example.test/', { WebSocket: ScriptedSocket, protocols: ['a b'] }), SyntaxError);
    assert.throws(() => new ResumableSocket('ws://example.test/', { WebSocket: ScriptedSocket, protocols: ['a', 'a'] }), SyntaxError);
    if (typeof globalThis.WebSocket !== 'function') {
      assert.throws(() => new ResumableSocket('ws://example.test/', { transport: 'websocket' }), /pass options.WebSocket/, 'Node 20 has no WebSocket of its own');
    } else {
      // Node 22 and later have one: the socket uses it.
      new ResumableSocket('ws://127.0.0.1:9/', { transport: 'websocket' }).close();
    }
    const socket = new ResumableSocket('ws://example.test/', { WebSocket: ScriptedSocket });
    assert.throws(() => socket.close(1001), RangeError);
    assert.throws(() => socket.close(1000, 'x'.repeat(124)), SyntaxError);
    assert.throws(() => socket.send({} as unknown as string), TypeError);
    socket.close();
    assert.equal(socket.readyState, ResumableSocket.CLOSING, 'closing before open gives up connecting');
  });
});
