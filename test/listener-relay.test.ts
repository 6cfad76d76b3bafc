/*
 * The listener relay's own rules (src/tunnel/listener-relay.ts), between two relays joined in
 * process: bytes both ways under the credit window, a half-close on each side and the orderly
 * close after both; and what a hostile or broken node may send: credit it was never owed, a
 * text message that means nothing, bytes after its end. Each resets that one connection only.
 * The real thing, between instances on hosts of their own, is test/cluster-listeners.test.ts.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { describe, test } from 'node:test';
import { PipeEnd } from '../src/lib/pipe.js';
import { ListenerRelay, RELAY_WINDOW, type RelayCarrier } from '../src/tunnel/listener-relay.js';

interface Side {
  /** The application's end of the connection. */
  readonly app: PipeEnd;
  readonly relay: ListenerRelay;
  /** Codes this side's carrier closed with. */
  readonly closes: number[];
  /** What the application's end saw fail (a reset). */
  readonly errors: string[];
}

const owner = { logFields: {}, abortAfterFault: () => undefined };

/** Two relays whose carriers deliver to each other asynchronously, as a WebSocket would. */
function joined(): { left: Side; right: Side } {
  const make = (deliver: (message: Buffer, isBinary: boolean) => void, closeOther: (code: number) => void): Side & { carrier: RelayCarrier } => {
    const [app, relayed] = PipeEnd.pair();
    const closes: number[] = [];
    const errors: string[] = [];
    app.on('error', (error: NodeJS.ErrnoException) => errors.push(error.code ?? error.message));
    const carrier: RelayCarrier = {
      sendBinary: (chunk) => {
        const copy = Buffer.from(chunk);
        setImmediate(() => deliver(copy, true));
      },
      sendText: (text) => setImmediate(() => deliver(Buffer.from(text), false)),
      close: (code) => {
        closes.push(code);
        setImmediate(() => closeOther(code));
      },
    };
    return { app, closes, errors, carrier, relay: new ListenerRelay(relayed, carrier, owner) };
  };
  let right: Side | null = null;
  const left = make(
    (message, isBinary) => right?.relay.fromCarrier(message, isBinary, true),
    (code) => right?.relay.carrierClosedWith(code),
  );
  right = make(
    (message, isBinary) => left.relay.fromCarrier(message, isBinary, true),
    (code) => left.relay.carrierClosedWith(code),
  );
  return { left, right };
}

async function readAll(end: PipeEnd): Promise<Buffer> {
  const chunks: Buffer[] = [];
  end.on('data', (chunk: Buffer) => chunks.push(chunk));
  await once(end, 'end');
  return Buffer.concat(chunks);
}

describe('listener relay', () => {
  test('several windows each way, both half-closed, then the orderly close', async () => {
    const { left, right } = joined();
    const toRight = Buffer.alloc(3 * RELAY_WINDOW + 12345, 1);
    const toLeft = Buffer.alloc(2 * RELAY_WINDOW + 777, 2);
    const [atRight, atLeft] = [readAll(right.app), readAll(left.app)];
    left.app.end(toRight);
    right.app.end(toLeft);
    assert.ok((await atRight).equals(toRight));
    assert.ok((await atLeft).equals(toLeft));
    await new Promise((resolve) => setTimeout(resolve, 20));
    assert.ok([...left.closes, ...right.closes].every((code) => code === 1000), `closes: ${[...left.closes, ...right.closes].join(',')}`);
    assert.ok(left.closes.length + right.closes.length >= 1);
  });

  test('a reader that stops holds the writer at the window', async () => {
    const { left, right } = joined();
    right.app.pause();
    let written = 0;
    const chunk = Buffer.alloc(64 * 1024);
    // Write until the pipe pushes back for long: the relay stops reading past the window.
    for (let round = 0; round < 200; round++) {
      if (!left.app.write(chunk)) {
        const drained = await Promise.race([once(left.app, 'drain').then(() => true), new Promise((resolve) => setTimeout(() => resolve(false), 100))]);
        if (!drained) break;
      }
      written += chunk.length;
    }
    assert.ok(written < 4 * RELAY_WINDOW, `${written} bytes were taken from a writer whose reader never read`);
    left.app.destroy();
    right.app.destroy();
  });

  for (const [name, message, isBinary] of [
    ['credit it was never owed', 'c1048576', false],
    ['a text message that means nothing', 'hello?', false],
    ['credit that is not a number', 'c12abc', false],
  ] as const) {
    test(`${name}: that connection is reset, at both ends`, async () => {
      const { left, right } = joined();
      left.relay.fromCarrier(Buffer.from(message), isBinary, true);
      await new Promise((resolve) => setTimeout(resolve, 20));
      assert.deepEqual(left.errors, ['ECONNRESET']);
      assert.deepEqual(right.errors, ['ECONNRESET']);
      assert.deepEqual(left.closes, [1011]);
    });
  }

  test('bytes after the end: that connection is reset', async () => {
    const { left } = joined();
    left.app.resume();
    left.relay.fromCarrier(Buffer.from('end'), false, true);
    left.relay.fromCarrier(Buffer.from('late'), true, true);
    await new Promise((resolve) => setTimeout(resolve, 20));
    assert.deepEqual(left.errors, ['ECONNRESET']);
    assert.deepEqual(left.closes, [1011]);
  });
});
