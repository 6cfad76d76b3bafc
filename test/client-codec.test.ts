/*
 * websocksy/client's pure parts against hand-made bytes: the record codec (both framings), the
 * JSON bodies, the offset bookkeeping of what was sent and received, backoff and URLs. No
 * network: these are the rules docs/sessions.md states, one by one.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { backoffDelay } from '../src/client/backoff.js';
import { encodeEnd, encodeHello, parseEnd, parseError, parseWelcome } from '../src/client/control.js';
import { Inbox } from '../src/client/inbox.js';
import { Outbox } from '../src/client/outbox.js';
import { decodeAck, decodeMessageRecord, decodeStreamRecords, encodeAck, encodeMessageRecord, encodeStreamRecords, RecordError, RecordType } from '../src/client/records.js';
import { closeCodeOfStatus, isFatalSessionCode } from '../src/client/transport.js';
import { sessionUrls, urlPair } from '../src/client/urls.js';

const bytes = (...values: number[]): Uint8Array => Uint8Array.from(values);
const utf8 = (text: string): Uint8Array => new TextEncoder().encode(text);

describe('client records', () => {
  test('a WebSocket message is a type byte and the body', () => {
    assert.deepEqual(encodeMessageRecord(RecordType.TEXT, utf8('hi')), bytes(0x04, 0x68, 0x69));
    const record = decodeMessageRecord(bytes(0x03, 0xff, 0x00));
    assert.equal(record.type, RecordType.BINARY);
    assert.deepEqual(record.body, bytes(0xff, 0x00));
    assert.deepEqual(decodeMessageRecord(bytes(0x03)).body, bytes(), 'an empty message is a record with an empty body');
  });

  test('an empty message or an unknown type is refused', () => {
    assert.throws(() => decodeMessageRecord(bytes()), RecordError);
    assert.throws(() => decodeMessageRecord(bytes(0x00, 1)), /unknown record type 0x00/);
    assert.throws(() => decodeMessageRecord(bytes(0x08)), /unknown record type 0x08/);
  });

  test('an HTTP body is records with 4-byte big-endian lengths', () => {
    const body = bytes(0x04, 0, 0, 0, 2, 0x68, 0x69, 0x05, 0, 0, 0, 8, 0, 0, 0, 1, 0, 0, 0, 2, 0x03, 0, 0, 0, 0);
    const records = decodeStreamRecords(body);
    assert.deepEqual(
      records.map((record) => [record.type, [...record.body]]),
      [
        [RecordType.TEXT, [0x68, 0x69]],
        [RecordType.ACK, [0, 0, 0, 1, 0, 0, 0, 2]],
        [RecordType.BINARY, []],
      ],
    );
    assert.deepEqual(encodeStreamRecords(records), body, 'encoding gives the same bytes back');
    assert.deepEqual(decodeStreamRecords(bytes()), [], 'an empty body holds no record');
  });

  test('an HTTP body cut inside a header or a body is refused whole', () => {
    assert.throws(() => decodeStreamRecords(bytes(0x04, 0, 0, 0)), /header cut at byte 0/);
    assert.throws(() => decodeStreamRecords(bytes(0x04, 0, 0, 0, 3, 0x61, 0x62)), /3 bytes announced, 2 present/);
    assert.throws(() => decodeStreamRecords(bytes(0x04, 0, 0, 0, 0, 0x09, 0, 0, 0, 0)), /unknown record type 0x09/);
  });

  test('a record body in a larger buffer is read at its offset', () => {
    const buffer = bytes(0xaa, 0xaa, 0x05, 0, 0, 0, 8, 0, 0, 0, 0, 0, 0, 0x01, 0x00);
    const [ack] = decodeStreamRecords(buffer.subarray(2));
    assert.equal(decodeAck((ack ?? assert.fail()).body), 256);
  });

  test('an ACK is the count as two big-endian uint32 (high, low)', () => {
    assert.deepEqual(encodeAck(0), bytes(0, 0, 0, 0, 0, 0, 0, 0));
    assert.deepEqual(encodeAck(1_048_576), bytes(0, 0, 0, 0, 0, 0x10, 0, 0));
    assert.deepEqual(encodeAck(2 ** 32 + 5), bytes(0, 0, 0, 1, 0, 0, 0, 5));
    assert.equal(decodeAck(bytes(0, 0, 0, 1, 0xff, 0xff, 0xff, 0xff)), 2 ** 33 - 1);
    assert.equal(decodeAck(encodeAck(Number.MAX_SAFE_INTEGER)), Number.MAX_SAFE_INTEGER);
    assert.throws(() => decodeAck(bytes(0, 0, 0, 0, 0, 0, 1)), /7 bytes, not 8/);
    assert.throws(() => decodeAck(bytes(0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0)), /past 2\^53/);
    assert.throws(() => encodeAck(-1), RangeError);
  });
});

describe('client control bodies', () => {
  const welcome = { v: 1, session: 's6Cq3M0xY2nN8hW1', secret: '3qYH8aaaaaaaaaaaaaaaaa', resumed: false, protocol: 'mqtt', received: 0, path: '/.websocksy/session', grace: 120, window: 2097152, ackBytes: 65536 };

  test('the WELCOME of the doc is read field by field', () => {
    assert.deepEqual(parseWelcome(utf8(JSON.stringify(welcome))), {
      session: 's6Cq3M0xY2nN8hW1',
      secret: '3qYH8aaaaaaaaaaaaaaaaa',
      resumed: false,
      protocol: 'mqtt',
      received: 0,
      path: '/.websocksy/session',
      graceSeconds: 120,
      window: 2097152,
      ackBytes: 65536,
    });
    const resumed = parseWelcome(JSON.stringify({ ...welcome, secret: undefined, resumed: true, received: 1048576, grace: 0.5 }));
    assert.equal(resumed.secret, undefined);
    assert.equal(resumed.received, 1048576);
    assert.equal(resumed.graceSeconds, 0.5);
  });

  test('a WELCOME that lacks what the session needs is refused', () => {
    assert.throws(() => parseWelcome('not json'), /not JSON/);
    assert.throws(() => parseWelcome('[1]'), /not a JSON object/);
    assert.throws(() => parseWelcome(JSON.stringify({ ...welcome, v: 2 })), /version 2/);
    assert.throws(() => parseWelcome(JSON.stringify({ ...welcome, secret: undefined })), /without its secret/);
    assert.throws(() => parseWelcome(JSON.stringify({ ...welcome, received: -1 })), /"received" is not a count/);
    assert.throws(() => parseWelcome(JSON.stringify({ ...welcome, window: 0 })), /"window" is 0/);
    assert.throws(() => parseWelcome(JSON.stringify({ ...welcome, path: 7 })), /"path" is not a string/);
    assert.throws(() => parseWelcome(JSON.stringify({ ...welcome, grace: '120' })), /"grace"/);
  });

  test('HELLO and END bodies are the doc\'s JSON', () => {
    const hello = JSON.parse(new TextDecoder().decode(encodeHello({ session: 'abc', secret: 'xyz', received: 1048576, takeover: true }))) as unknown;
    assert.deepEqual(hello, { v: 1, session: 'abc', secret: 'xyz', received: 1048576, takeover: true });
    assert.deepEqual(parseEnd(encodeEnd({ code: 1000, reason: 'Peer closed connection' })), { code: 1000, reason: 'Peer closed connection' });
    assert.deepEqual(parseEnd(utf8('{"code":1011}')), { code: 1011, reason: '' });
    assert.throws(() => parseEnd(utf8('{"reason":"x"}')), /"code" is not a count/);
    assert.deepEqual(parseError(utf8('{"error":"no-session","message":"expired"}')), { error: 'no-session', message: 'expired' });
  });
});

describe('client offsets: what was sent', () => {
  const message = (outbox: Outbox, length: number, fill = length): void => outbox.push(RecordType.BINARY, new Uint8Array(length).fill(fill));

  test('messages take offsets in order and wait behind the window', () => {
    const outbox = new Outbox();
    message(outbox, 10);
    message(outbox, 20);
    message(outbox, 30);
    assert.equal(outbox.bufferedAmount, 60);
    assert.equal(outbox.take(25)?.start, 0);
    assert.equal(outbox.take(25), undefined, 'the second message would leave 30 bytes unacknowledged');
    outbox.acknowledge(10);
    assert.equal(outbox.bufferedAmount, 50);
    assert.equal(outbox.take(25)?.start, 10);
    assert.equal(outbox.take(50)?.start, 30, 'the window counts from the acknowledged offset');
    assert.equal(outbox.allTransmitted, true);
    assert.equal(outbox.endOffset, 60);
  });

  test('an ACK drops whole messages; an old ACK is harmless; one past what was sent, or inside a message, breaks the protocol', () => {
    const outbox = new Outbox();
    message(outbox, 10);
    message(outbox, 10);
    outbox.take(100);
    assert.throws(() => outbox.acknowledge(20), /only 10 sent/, 'the second message was not transmitted');
    outbox.take(100);
    assert.throws(() => outbox.acknowledge(15), /inside the message at 10/);
    outbox.acknowledge(10);
    outbox.acknowledge(5);
    assert.equal(outbox.bufferedAmount, 10);
    outbox.acknowledge(20);
    assert.equal(outbox.bufferedAmount, 0);
  });

  test('a resume sends again everything after the server\'s count, from the first message it lacks', () => {
    const outbox = new Outbox();
    for (const length of [4, 4, 4, 4]) message(outbox, length);
    while (outbox.take(100) !== undefined);
    outbox.acknowledge(4);
    outbox.rewind(8);
    assert.equal(outbox.bufferedAmount, 8);
    assert.deepEqual([outbox.take(100)?.start, outbox.take(100)?.start, outbox.take(100)], [8, 12, undefined]);
  });

  test('a resume may find the server with fewer bytes than were transmitted, never fewer than acknowledged', () => {
    const outbox = new Outbox();
    message(outbox, 5);
    message(outbox, 5);
    outbox.take(100);
    outbox.acknowledge(5);
    assert.throws(() => outbox.rewind(0), /had acknowledged 5/);
    outbox.rewind(5);
    assert.equal(outbox.take(100)?.start, 5, 'the untransmitted message goes on the new transport');
    assert.throws(() => outbox.rewind(11), /only 10 sent/);
  });

  test('a message larger than the window is stuck; nothing else is', () => {
    const outbox = new Outbox();
    message(outbox, 8);
    assert.equal(outbox.stuck(8), false);
    assert.equal(outbox.stuck(7), true);
    assert.equal(new Outbox().stuck(1), false);
  });
});

describe('client offsets: what was received', () => {
  test('an ACK is due every ackBytes since the server was last told', () => {
    const inbox = new Inbox();
    assert.equal(inbox.add(100, 256), false);
    assert.equal(inbox.owed, true);
    assert.equal(inbox.add(156, 256), true);
    assert.equal(inbox.tell(), 256);
    assert.equal(inbox.owed, false);
    assert.equal(inbox.add(255, 256), false);
    assert.equal(inbox.received, 511);
  });
});

describe('client resume answers', () => {
  test('an HTTP status stands for its close code; only 4400, 4403 and 4404 end the session', () => {
    assert.deepEqual([400, 403, 404, 409, 503, 502].map(closeCodeOfStatus), [4400, 4403, 4404, 4409, 4503, 1006]);
    assert.deepEqual([4400, 4403, 4404, 4409, 4503, 1006].map(isFatalSessionCode), [true, true, true, false, false, false]);
  });
});

describe('client backoff and URLs', () => {
  test('full jitter: a uniform draw under an exponential ceiling capped at maxDelayMs', () => {
    assert.equal(backoffDelay(0, 100, 5000, () => 0.999), 99);
    assert.equal(backoffDelay(3, 100, 5000, () => 0.5), 400);
    assert.equal(backoffDelay(10, 100, 5000, () => 0.5), 2500);
    assert.equal(backoffDelay(1000, 100, 5000, () => 0), 0);
  });

  test('a bridged URL in both forms, and the session path on its host', () => {
    const pair = urlPair('ws://127.0.0.1:8001/term?x=1');
    assert.deepEqual(pair, { websocket: 'ws://127.0.0.1:8001/term?x=1', http: 'http://127.0.0.1:8001/term?x=1' });
    assert.deepEqual(urlPair('https://example.org/a'), { websocket: 'wss://example.org/a', http: 'https://example.org/a' });
    assert.deepEqual(sessionUrls(pair, '/.websocksy/session', undefined), { websocket: 'ws://127.0.0.1:8001/.websocksy/session', http: 'http://127.0.0.1:8001/.websocksy/session' });
    assert.equal(sessionUrls(pair, '/x', 'wss://proxy.example/s').http, 'https://proxy.example/s');
    assert.throws(() => urlPair('ftp://x/'), SyntaxError);
    assert.throws(() => urlPair('ws://x/#frag'), SyntaxError);
    assert.throws(() => urlPair('/relative'), SyntaxError, 'Node has no page to resolve against');
  });
});
