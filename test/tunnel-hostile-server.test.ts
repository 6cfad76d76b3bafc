/*
 * The real `websocksy forward` client against a tunnel server that the test scripts frame by
 * frame, as a hostile or buggy server would behave: the client must take nothing from it that
 * could spin it, exhaust its memory or wedge its streams, drop that connection with a reason
 * that names what was wrong, and come back with backoff.
 */

const descriptors = (pid: number): number => readdirSync(`/proc/${pid}/fd`).length;
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { readdirSync } from 'node:fs';
import { describe, test } from 'node:test';
import { MAX_OLD_CONNECTIONS } from '../src/tunnel/client.js';
import { encodeData, encodeEmpty, FrameType } from '../src/tunnel/protocol.js';
import { dial } from './helpers/tunnel.js';
import { goodWelcome, startHostileTunnelServer } from './helpers/hostile-tunnel-server.js';
import { startWebsocksy } from './helpers/websocksy.js';

/** Welcomes spoiled one field each, with the field the client's log must name. */
const BAD_WELCOMES: ReadonlyArray<{ readonly change: Record<string, unknown>; readonly named: RegExp }> = [
  // A ping every millisecond, once adopted.
  { change: { heartbeatMs: 0 }, named: /welcome heartbeatMs 0 /u },
  { change: { heartbeatMs: 'x' }, named: /welcome heartbeatMs \\?"x\\?" /u },
  // Every byte of a local connection held in the replay list.
  { change: { window: 1e15 }, named: /welcome window 1000000000000000 /u },
  // Streams that never send, or drop what they read.
  { change: { window: 0 }, named: /welcome window 0 /u },
  { change: { window: 'abc' }, named: /welcome window \\?"abc\\?" /u },
  { change: { timeoutMs: 0 }, named: /welcome timeoutMs 0 /u },
  { change: { session: 42 }, named: /welcome without a session id/u },
  { change: { secret: null }, named: /welcome of a new session without its secret/u },
  { change: { resumed: true }, named: /welcome of a resumed session without a valid stream state/u },
  // Counts no stream can have: the replay would start before the first byte.
  { change: { resumed: true, state: { seen: 0, streams: [{ id: 1, received: -5, consumed: -5 }] } }, named: /welcome of a resumed session without a valid stream state/u },
];

describe('a tunnel server whose welcome is out of bounds', () => {
  test('each is refused with the field named, the client backs off and takes a good welcome after them', { timeout: 30_000 }, async () => {
    const hostile = await startHostileTunnelServer((connection) => {
      const bad = BAD_WELCOMES[connection.index];
      connection.sendControl({ ...goodWelcome(), ...(bad?.change ?? {}) });
    });
    const forward = await startWebsocksy(
      ['forward', '--reconnect-min', '0.02', '--reconnect-max', '0.05', '-L', '127.0.0.1:0:127.0.0.1:9', hostile.url, '--name', 'n', '--token', 't'],
      { readyPattern: /forwarding/u },
    );
    try {
      await forward.waitForLog(/tunnel up/u, 20_000);
      for (const { named } of BAD_WELCOMES) assert.match(forward.log(), new RegExp(`bad handshake answer: ${named.source}`, 'u'));
      assert.doesNotMatch(forward.log(), /internal error/u);
      // Connection n + 1 came only after connection n was dropped: the good welcome is the last one.
      assert.equal(hostile.connections.length, BAD_WELCOMES.length + 1);
      // The session that came up keeps the server's heartbeat (5 s), not a busy loop of pings.
      const up = hostile.connections.at(-1);
      assert.ok(up !== undefined);
      await new Promise((resolve) => setTimeout(resolve, 300));
      assert.equal(up.frames.length, 0, `frames after a good welcome, within 300 ms: ${up.frames.length}`);
    } finally {
      await forward.stop();
      await hostile.close();
    }
  });
});

describe('a tunnel server that says goaway on every session and never closes the old connections', () => {
  test('the client paces its new connections and keeps at most MAX_OLD_CONNECTIONS old ones', { timeout: 30_000 }, async () => {
    const hostile = await startHostileTunnelServer((connection) => {
      connection.sendControl(goodWelcome(`goaway-${connection.index}`));
      connection.sendControl({ type: 'goaway' });
    });
    const forward = await startWebsocksy(
      ['forward', '--reconnect-min', '0.02', '--reconnect-max', '0.2', '-L', '127.0.0.1:0:127.0.0.1:9', hostile.url, '--name', 'n', '--token', 't'],
      { readyPattern: /forwarding/u },
    );
    try {
      const pid = forward.process.pid;
      assert.ok(pid !== undefined);
      await forward.waitForLog(/tunnel up/u);
      const before = descriptors(pid);
      await forward.waitForLog(new RegExp(`old connection closed .*why="more than ${MAX_OLD_CONNECTIONS} old connections`, 'u'), 15_000);
      await new Promise((resolve) => setTimeout(resolve, 1500));
      const open = hostile.connections.filter((connection) => connection.ws.readyState === connection.ws.OPEN).length;
      assert.ok(open <= MAX_OLD_CONNECTIONS + 2, `${open} connections open at once`);
      // Paced: a goaway right after its welcome waits reconnect-min and more, up to reconnect-max (0.2 s).
      const elapsedMs = Date.now() - Number(new Date(/^(\S+) info +tunnel up/mu.exec(forward.log())?.[1] ?? ''));
      assert.ok(hostile.connections.length <= elapsedMs / 100 + MAX_OLD_CONNECTIONS, `${hostile.connections.length} connections in ${elapsedMs} ms`);
      assert.ok(descriptors(pid) <= before + MAX_OLD_CONNECTIONS + 2, `descriptors: ${before} after the first session, ${descriptors(pid)} now`);
    } finally {
      await forward.stop();
      await hostile.close();
    }
  });
});

/** Unmasked WebSocket pings of 125 bytes, the largest a control frame carries: each draws a pong of 131. */
const PINGS = Buffer.concat(Array.from({ length: 4096 }, () => Buffer.concat([Buffer.from([0x89, 125]), Buffer.alloc(125, 0x70)])));

describe('a tunnel server that never reads and floods pings', () => {
  test('the client cuts the connection once its pongs pass the send bound, instead of holding them all', { timeout: 60_000 }, async () => {
    let flooding = true;
    const hostile = await startHostileTunnelServer((connection) => {
      connection.sendControl(goodWelcome());
      const { socket } = connection;
      socket.pause();
      const flood = (): void => {
        while (flooding && !socket.destroyed && socket.writable) {
          if (!socket.write(PINGS)) {
            socket.once('drain', flood);
            return;
          }
        }
      };
      socket.on('error', () => undefined);
      setImmediate(flood);
    });
    const forward = await startWebsocksy(['forward', '--reconnect-min', '0.5', '--reconnect-max', '1', '-L', '127.0.0.1:0:127.0.0.1:9', hostile.url, '--name', 'n', '--token', 't'], {
      readyPattern: /forwarding/u,
    });
    try {
      await forward.waitForLog(/tunnel down .*why="the server does not read: \d+ bytes wait to go to it, over the \d+ allowed"/u, 40_000);
    } finally {
      flooding = false;
      await forward.stop();
      await hostile.close();
    }
  });
});

describe('a tunnel server that sends data or a FIN on a stream before accepting it', () => {
  for (const early of ['data', 'FIN'] as const) {
    test(`${early}: the client resets the stream, and the local connection gets none of it`, { timeout: 30_000 }, async () => {
      const hostile = await startHostileTunnelServer(
        (connection) => connection.sendControl(goodWelcome()),
        (connection, frame) => {
          if (frame.type !== FrameType.open) return;
          connection.send(early === 'data' ? encodeData(frame.stream, Buffer.from('not yet accepted')) : encodeEmpty(FrameType.fin, frame.stream));
          // What a server would send next: the ACCEPT, which must find the stream gone.
          connection.send(encodeEmpty(FrameType.accept, frame.stream));
        },
      );
      const forward = await startWebsocksy(['forward', '-L', '127.0.0.1:0:127.0.0.1:9', hostile.url, '--name', 'n', '--token', 't'], { readyPattern: /forwarding .*ports=(\d+)/u });
      try {
        await forward.waitForLog(/tunnel up/u);
        const port = Number(/forwarding .*ports=(\d+)/u.exec(forward.log())?.[1]);
        const local = await dial(port);
        let received = 0;
        local.on('data', (chunk: Buffer) => (received += chunk.length));
        local.on('error', () => undefined);
        // The client ends the local connection (a FIN, or a reset): the test's socket is half-open, so 'end' or 'close'.
        await Promise.race([once(local, 'end'), once(local, 'close')]);
        local.destroy();
        assert.equal(received, 0);
        const reason = `${early} before the stream was accepted`;
        await forward.waitForLog(new RegExp(`stream reset .*why="${reason}"`, 'u'));
        const connection = hostile.connections[0];
        assert.ok(connection !== undefined);
        const reset = connection.frames.find((frame) => frame.type === FrameType.reset);
        assert.equal(reset?.body.toString(), reason);
      } finally {
        await forward.stop();
        await hostile.close();
      }
    });
  }
});
