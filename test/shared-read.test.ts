/*
 * Sockets reading into the process's shared buffer (src/lib/shared-read.ts), over real TCP
 * on 127.0.0.1: a connection net.Server accepted is taken over on this Node (the matrix runs
 * this on 20, 22 and 24, so a Node that changes what `adoptSharedRead` relies on fails here
 * rather than silently allocating again), still paused, and then behaves as the socket it
 * replaced: its addresses, both directions, a half-close each way, the server's count of it.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { connect, createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { describe, test } from 'node:test';
import { adoptSharedRead } from '../src/lib/shared-read.js';

const MiB = 1024 * 1024;

/** A paused-on-connect server on a free port and its first connection, adopted, with the client's end. */
async function acceptedPair(): Promise<{ server: Server; client: Socket; accepted: Socket; adopted: Socket }> {
  const server = createServer({ allowHalfOpen: true, pauseOnConnect: true });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const client = connect({ port: (server.address() as AddressInfo).port, host: '127.0.0.1', allowHalfOpen: true });
  const [accepted] = (await once(server, 'connection')) as [Socket];
  return { server, client, accepted, adopted: adoptSharedRead(accepted) };
}

/** Resolves with every byte `socket` reads until its end, noting each chunk's backing memory. */
function readAll(socket: Socket, backings: Set<ArrayBufferLike>): Promise<Buffer> {
  const pieces: Buffer[] = [];
  socket.on('data', (chunk: Buffer) => {
    backings.add(chunk.buffer);
    // A shared-read chunk is valid during this call only: keep a copy.
    pieces.push(Buffer.from(chunk));
  });
  return once(socket, 'end').then(() => Buffer.concat(pieces));
}

describe('shared read', () => {
  test('an accepted connection is taken over, paused, and reads into the shared buffer', async () => {
    const { server, client, accepted, adopted } = await acceptedPair();
    try {
      assert.notEqual(adopted, accepted, 'adoptSharedRead left the connection as it came: this Node no longer has what it relies on');
      assert.equal(accepted.destroyed, true);
      assert.equal(adopted.isPaused(), true);
      assert.equal(adopted.remoteAddress, '127.0.0.1');
      assert.equal(adopted.remotePort, client.localPort);
      assert.equal(adopted.localPort, (server.address() as AddressInfo).port);

      const up = randomBytes(4 * MiB);
      const down = randomBytes(3 * MiB);
      const backings = new Set<ArrayBufferLike>();
      const received = readAll(adopted, backings);
      const adoptedClosed = once(adopted, 'close');
      const returned = readAll(client, new Set());
      // Nothing is read while paused; resuming starts it, as with the socket net.Server made.
      client.end(up);
      await new Promise((resolve) => setTimeout(resolve, 50));
      assert.equal(backings.size, 0);
      adopted.resume();
      assert.deepEqual(await received, up);
      // Half-closed by the client, the adopted end still writes, then ends its half.
      adopted.end(down);
      assert.deepEqual(await returned, down);
      assert.equal(backings.size, 1, `4 MiB arrived in ${backings.size} different buffers: reads are allocating`);
      await adoptedClosed;
    } finally {
      client.destroy();
      adopted.destroy();
      server.close();
    }
  });

  test("the server's count of the connection ends with the accepted socket", async () => {
    const { server, client, adopted } = await acceptedPair();
    const count = await new Promise<number>((resolve, reject) => server.getConnections((error, n) => (error ? reject(error) : resolve(n))));
    assert.equal(count, 0);
    // close() waits for the connections it counts, and the adopted one is not: nothing in
    // websocksy waits for a listener's 'close', and the connection goes on after it.
    const closed = once(server, 'close');
    server.close();
    await closed;
    adopted.resume();
    client.end('after close');
    const [chunk] = (await once(adopted, 'data')) as [Buffer];
    assert.equal(chunk.toString(), 'after close');
    client.destroy();
    adopted.destroy();
  });

  test('a connection already closed is returned as it came', async () => {
    const { server, client, accepted, adopted } = await acceptedPair();
    try {
      // The first adoption destroyed `accepted`: there is nothing left to take over.
      assert.equal(adoptSharedRead(accepted), accepted);
    } finally {
      client.destroy();
      adopted.destroy();
      server.close();
    }
  });
});
