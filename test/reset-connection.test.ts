/*
 * lib/reset-connection.ts with real TCP connections: an open connection's peer sees a reset;
 * one reset while its end() is under way, or after it finished, leaves no descriptor open (Node's
 * own resetAndDestroy() leaked one in the first case) and its peer sees the end.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { connect, createServer, type Socket } from 'node:net';
import { after, before, test } from 'node:test';
import { resetConnection } from '../src/lib/reset-connection.js';
import { openDescriptors } from './helpers/process-figures.js';

type PeerSaw = 'reset' | 'end';

let port = 0;
const server = createServer({ allowHalfOpen: true });
/** What the peer of each connection saw, in the order they were accepted. */
const seen: Array<Promise<PeerSaw>> = [];

before(async () => {
  server.on('connection', (socket: Socket) => {
    seen.push(
      new Promise((resolve) => {
        socket.on('error', (error: NodeJS.ErrnoException) => resolve(error.code === 'ECONNRESET' ? 'reset' : 'end'));
        socket.on('end', () => {
          resolve('end');
          socket.end();
        });
        socket.resume();
      }),
    );
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  port = (server.address() as { port: number }).port;
});

after(() => server.close());

/** Waits, at most 5 s, for `condition`; false if it never held. */
async function until(condition: () => boolean): Promise<boolean> {
  const deadline = Date.now() + 5000;
  while (!condition()) {
    if (Date.now() > deadline) return false;
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
  return true;
}

async function connected(): Promise<{ socket: Socket; errors: Error[] }> {
  const socket = connect({ host: '127.0.0.1', port, allowHalfOpen: true });
  const errors: Error[] = [];
  socket.on('error', (error) => errors.push(error));
  await once(socket, 'connect');
  return { socket, errors };
}

for (const when of ['open', 'ending', 'finished'] as const) {
  test(`a connection reset while ${when}: no descriptor left, no error, the peer sees ${when === 'open' ? 'a reset' : 'the end'}`, async () => {
    const start = openDescriptors();
    const first = seen.length;
    const results: Array<{ errors: Error[] }> = [];
    for (let i = 0; i < 10; i++) {
      const { socket, errors } = await connected();
      // The server holds its side first: a connection reset in its accept queue would never be seen.
      assert.ok(await until(() => seen.length > first + i), 'the server accepted the connection');
      if (when !== 'open') socket.end();
      if (when === 'finished') await once(socket, 'finish');
      resetConnection(socket);
      results.push({ errors });
    }
    await until(() => openDescriptors() <= start);
    assert.equal(openDescriptors(), start);
    assert.deepEqual(
      results.flatMap(({ errors }) => errors.map((error) => error.message)),
      [],
    );
    const saw = await Promise.all(seen.slice(first));
    assert.equal(saw.length, 10);
    assert.ok(saw.every((what) => what === (when === 'open' ? 'reset' : 'end')), saw.join(','));
  });
}
