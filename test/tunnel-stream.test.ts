/*
 * Unit tests of one tunnel stream and of stream ids: the credit of bytes still queued when the
 * peer's FIN arrives, data frames within their payload limit whatever the read size, the
 * session's stream cap, and ids across the 2^32 wrap (serial-number order, skipping ids in use).
 * A local connection whose OPEN crossed a goaway moves, untouched, to the client's next session.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { describe, test } from 'node:test';
import { PipeEnd } from '../src/lib/pipe.js';
import type { LogFields } from '../src/lib/log.js';
import { maxStreamsFor, MAX_STREAMS_PER_SESSION, Session, type SessionOwner } from '../src/tunnel/mux.js';
import {
  decodeCredit, decodeFrame, encodeEmpty, encodeJson, encodeText, FrameType, GOAWAY_REJECT_REASON, HEADER_SIZE, MAX_DATA_PAYLOAD, MAX_FRAME, type ControlMessage, type OpenTarget,
} from '../src/tunnel/protocol.js';
import { TunnelStream, type StreamHost, type StreamSocket } from '../src/tunnel/stream.js';
import { idAfter, isUnseen, StreamIdAllocator } from '../src/tunnel/stream-ids.js';

class RecordingHost implements StreamHost {
  readonly frames: Buffer[] = [];
  readonly ended: Array<string | null> = [];
  attached = true;
  readonly logFields: LogFields = { test: 'stream' };

  constructor(readonly window: number) {}

  sendFrame(frame: Buffer): void {
    this.frames.push(Buffer.from(frame));
  }

  streamEnded(_stream: TunnelStream, reason: string | null): void {
    this.ended.push(reason);
  }

  ofType(type: FrameType): Buffer[] {
    return this.frames.filter((frame) => frame[0] === type);
  }
}

/** A socket pair whose application end expects to be reset when the test ends its stream. */
function pair(): [PipeEnd, PipeEnd] {
  const [app, end] = PipeEnd.pair();
  app.on('error', () => undefined);
  return [app, end];
}

const tick = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

async function until(condition: () => boolean, what: string): Promise<void> {
  for (let waited = 0; !condition(); waited++) {
    if (waited > 2000) assert.fail(`timed out waiting for ${what}`);
    await tick();
  }
}

describe('tunnel stream', () => {
  test('a FIN while the socket still queues bytes: the rest is credited once it is flushed, and the stream finishes', async () => {
    const host = new RecordingHost(256 * 1024);
    const stream = new TunnelStream(2, false, { host: 'peer', port: 1 }, host);
    const [app, end] = PipeEnd.pair();
    app.pause();
    stream.attachSocket(end);
    stream.start();
    // This side's half is done first: the app ends at once, the peer acknowledges that FIN.
    app.end();
    await until(() => host.ofType(FrameType.fin).length === 1, 'our FIN');
    stream.onCredit(1);
    // 100 000 bytes and the peer's FIN arrive while the app reads nothing.
    stream.onData(Buffer.alloc(100_000, 7));
    stream.onFin();
    await tick();
    assert.equal(stream.state, 'open');
    assert.ok(end.writableLength > 0, 'the socket should still queue bytes');
    let read = 0;
    app.on('data', (chunk: Buffer) => (read += chunk.length));
    app.resume();
    await once(app, 'end');
    await until(() => host.ended.length === 1, 'the stream to finish');
    assert.equal(read, 100_000);
    assert.deepEqual(host.ended, [null]);
    const credits = host.ofType(FrameType.credit).map((frame) => decodeCredit(decodeFrame(frame).body));
    assert.equal(credits.at(-1), 100_001, 'every byte and the FIN credited');
  });

  test('a chunk larger than a data frame may carry goes as several frames of at most 64 KiB', async () => {
    const host = new RecordingHost(4 * 1024 * 1024);
    const stream = new TunnelStream(1, true, { host: 'peer', port: 1 }, host);
    const [app, end] = pair();
    stream.attachSocket(end);
    stream.start();
    const payload = Buffer.alloc(2 * 1024 * 1024 + 5);
    for (let i = 0; i < payload.length; i++) payload[i] = i % 251;
    app.write(payload);
    await until(() => host.ofType(FrameType.data).reduce((sum, frame) => sum + frame.length - HEADER_SIZE, 0) === payload.length, 'all data frames');
    const data = host.ofType(FrameType.data);
    for (const frame of data) assert.ok(frame.length - HEADER_SIZE <= MAX_DATA_PAYLOAD, `a data frame of ${frame.length - HEADER_SIZE} bytes`);
    assert.ok(Buffer.concat(data.map((frame) => frame.subarray(HEADER_SIZE))).equals(payload));
    assert.equal(data.length, Math.ceil(payload.length / MAX_DATA_PAYLOAD));
    stream.reset('test over');
  });

  test('data or a FIN before the stream was accepted resets it instead of vanishing', () => {
    for (const early of ['data', 'fin'] as const) {
      const host = new RecordingHost(65_536);
      const stream = new TunnelStream(2, false, { host: 'peer', port: 1 }, host);
      if (early === 'data') stream.onData(Buffer.from('too soon'));
      else stream.onFin();
      assert.equal(stream.state, 'ended');
      assert.match(String(host.ended[0]), /before the stream was accepted/);
    }
  });
});

describe('stream ids', () => {
  test('serial-number order across the wrap', () => {
    assert.ok(idAfter(3, 1));
    assert.ok(!idAfter(1, 3));
    assert.ok(!idAfter(5, 5));
    assert.ok(idAfter(1, 2 ** 32 - 1), '1 follows 2^32 - 1');
    assert.ok(idAfter(2, 2 ** 32 - 2));
    assert.ok(!idAfter(2 ** 32 - 1, 1));
    assert.ok(isUnseen(7, 0), 'anything is new when nothing was seen');
    assert.ok(isUnseen(1, 2 ** 32 - 3));
    assert.ok(!isUnseen(2 ** 32 - 3, 1));
  });

  test('allocation wraps past 2^32, skips 0 and ids still in use', () => {
    const server = new StreamIdAllocator('server', 2 ** 32 - 4);
    const inUse = new Set([2]);
    const ids = [0, 1, 2, 3].map(() => server.allocate((id) => inUse.has(id)));
    assert.deepEqual(ids, [2 ** 32 - 4, 2 ** 32 - 2, 4, 6]);
    const client = new StreamIdAllocator('client', 2 ** 32 - 3);
    assert.deepEqual([0, 1, 2].map(() => client.allocate(() => false)), [2 ** 32 - 3, 2 ** 32 - 1, 1]);
    assert.throws(() => new StreamIdAllocator('client', 4), /not a client stream id/);
    assert.throws(() => new StreamIdAllocator('server', 0), /not a server stream id/);
  });

  test('a session near the wrap opens and accepts streams past it; an id seen before is a protocol error', () => {
    const failures: string[] = [];
    const owner: SessionOwner = {
      logFields: { test: 'ids' },
      dial: () => new Promise<StreamSocket>(() => undefined),
      onControl: (message: ControlMessage) => failures.push(message.type),
      onStreamEnded: () => undefined,
      onTransportFailed: (reason: string) => failures.push(reason),
    };
    const server = new Session('server', 65_536, owner, { firstStreamId: 2 ** 32 - 2 });
    const opened = [0, 1, 2].map(() => server.open(pair()[1], { host: 'h', port: 1 })?.id);
    assert.deepEqual(opened, [2 ** 32 - 2, 2, 4]);
    const client = new Session('client', 65_536, owner);
    for (const id of [2 ** 32 - 2, 2, 4]) client.onMessage(encodeJson(FrameType.open, id, { host: 'h', port: 1 }), true);
    assert.deepEqual(failures, []);
    assert.deepEqual([...client.streams.keys()], [2 ** 32 - 2, 2, 4]);
    client.onMessage(encodeJson(FrameType.open, 2 ** 32 - 2, { host: 'h', port: 1 }), true);
    assert.equal(failures.length, 1);
    assert.match(failures.join(), /open of stream 4294967294/);
    server.resetAll('test over');
    client.resetAll('test over');
  });
});

describe('session limits', () => {
  test('streams per session: the send budget ÷ window, never more than 2048', () => {
    assert.equal(maxStreamsFor(256 * 1024), 256);
    assert.equal(maxStreamsFor(16 * 1024), MAX_STREAMS_PER_SESSION);
    assert.equal(maxStreamsFor(64 * 1024 * 1024), 1);
  });

  test('a resume listing 2048 streams with the largest counts fits one frame', () => {
    const big = 2 ** 48 - 1;
    const streams = Array.from({ length: MAX_STREAMS_PER_SESSION }, (_, i) => ({ id: 2 ** 32 - 1 - 2 * i, received: big, consumed: big }));
    const hello: ControlMessage = {
      type: 'hello', version: 1, name: 'n'.repeat(64), token: 't'.repeat(256),
      resume: { id: 's'.repeat(22), secret: 'k'.repeat(43), state: { streams, seen: 2 ** 32 - 2 } },
    };
    const frame = encodeJson(FrameType.control, 0, hello);
    assert.ok(frame.length < MAX_FRAME / 4, `a hello of ${frame.length} bytes`);
  });
});

describe('goaway: a local connection whose OPEN crossed it', () => {
  const target = { host: 'h', port: 1 };

  /** A client session whose owner records what it is asked to open again. */
  function clientSession(retired: boolean): { session: Session; reopened: Array<{ socket: StreamSocket; target: OpenTarget }> } {
    const reopened: Array<{ socket: StreamSocket; target: OpenTarget }> = [];
    const owner: SessionOwner = {
      logFields: { test: 'goaway' },
      retired,
      dial: () => new Promise<StreamSocket>(() => undefined),
      onControl: () => undefined,
      onStreamEnded: () => undefined,
      onTransportFailed: (reason) => assert.fail(reason),
      reopen: (socket, to) => reopened.push({ socket, target: to }),
    };
    return { session: new Session('client', 65_536, owner), reopened };
  }

  test("the goaway REJECT hands the socket, open and unread, to the next session, where it carries the connection's bytes", async () => {
    const { session, reopened } = clientSession(true);
    const [app, end] = pair();
    const stream = session.open(end, target, true);
    assert.ok(stream !== null);
    app.write(Buffer.from('hello'));
    session.onMessage(encodeText(FrameType.reject, stream.id, GOAWAY_REJECT_REASON), true);
    assert.deepEqual(reopened.map((one) => [one.socket, one.target]), [[end, target]]);
    assert.equal(end.destroyed, false);
    assert.equal(session.streams.size, 0);

    // The next session's stream takes the socket as it is: what the client wrote is sent there, once.
    const next = new RecordingHost(65_536);
    const moved = new TunnelStream(3, true, target, next);
    moved.attachSocket(end);
    moved.start();
    await until(() => next.ofType(FrameType.data).length > 0, 'the data frame');
    assert.deepEqual(next.ofType(FrameType.data).map((frame) => frame.subarray(HEADER_SIZE).toString()), ['hello']);
    moved.reset('test over');
  });

  test('every other REJECT resets: a session not retired, another reason, a stream that may not move', () => {
    const cases: Array<[boolean, string, boolean]> = [[false, GOAWAY_REJECT_REASON, true], [true, 'connect ECONNREFUSED', true], [true, GOAWAY_REJECT_REASON, false]];
    for (const [retired, reason, movable] of cases) {
      const { session, reopened } = clientSession(retired);
      const [, end] = pair();
      const stream = session.open(end, target, movable);
      assert.ok(stream !== null);
      session.onMessage(encodeText(FrameType.reject, stream.id, reason), true);
      assert.deepEqual(reopened, [], `retired=${retired} reason=${reason} movable=${movable}`);
      assert.equal(end.destroyed, true);
    }
  });

  test('a retired session that ends hands over the streams never accepted; accepted ones stay its own', () => {
    const { session, reopened } = clientSession(true);
    const [, waiting] = pair();
    const [, accepted] = pair();
    session.open(waiting, target, true);
    const running = session.open(accepted, target, true);
    assert.ok(running !== null);
    session.onMessage(encodeEmpty(FrameType.accept, running.id), true);
    session.handOverUnaccepted();
    assert.deepEqual(reopened.map((one) => one.socket), [waiting]);
    assert.deepEqual([...session.streams.values()], [running]);
    session.resetAll('test over');
    assert.equal(accepted.destroyed, true);
  });
});
