/*
 * Sockets made around connected descriptors (src/lib/descriptor-socket.ts), over real TCP on
 * 127.0.0.1 and a real unix socket: after the first socket of a kind, the next ones are made
 * from their handle's class on this Node (the matrix runs this on 20, 22 and 24, so a Node that
 * changes what that relies on fails here rather than silently asking the kernel four more
 * questions per connection); each socket, either way made, reads nothing until resumed, then
 * carries both directions into the given read buffer, half-closes each way, knows its
 * addresses, and owns its descriptor (closed with it).
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, test } from 'node:test';
import { connectAtOnce, type StreamTarget } from '../src/lib/connect-at-once.js';
import { makesHandlesFor, socketFromDescriptor, type DescriptorKind } from '../src/lib/descriptor-socket.js';
import { tempDir } from './helpers/peers.js';
import { openDescriptors } from './helpers/process-figures.js';

const READ = Buffer.alloc(64 * 1024);

/** A listener whose connections answer each chunk with its bytes reversed, and end when the client ends. */
async function reversingServer(listenOn: { port: number; host: string } | { path: string }): Promise<Server> {
  const server = createServer({ allowHalfOpen: true }, (socket) => {
    socket.on('data', (chunk: Buffer) => socket.write(Buffer.from(chunk).reverse()));
    socket.on('end', () => socket.end());
  });
  server.listen(listenOn);
  await once(server, 'listening');
  return server;
}

/** A paused socket around a descriptor connected to `target` at once, and every byte it reads. */
function descriptorSocket(target: StreamTarget, kind: DescriptorKind): { socket: Socket; pieces: Buffer[]; received: Promise<Buffer> } {
  const outcome = connectAtOnce(target);
  assert.equal(outcome.state, 'connected');
  const pieces: Buffer[] = [];
  let ended: () => void = () => undefined;
  const received = new Promise<Buffer>((resolve) => {
    ended = () => resolve(Buffer.concat(pieces));
  });
  const socket = socketFromDescriptor(outcome.state === 'connected' ? outcome.fd : -1, kind, {
    buffer: READ,
    callback: (length, buffer) => {
      assert.equal(buffer, READ, 'reads land in the given buffer');
      pieces.push(Buffer.from(buffer.subarray(0, length)));
      return true;
    },
  });
  socket.on('end', ended);
  return { socket, pieces, received };
}

async function checkKind(kind: DescriptorKind, target: StreamTarget): Promise<void> {
  const before = openDescriptors();
  for (let round = 0; round < 3; round++) {
    const { socket, pieces, received } = descriptorSocket(target, kind);
    // After the first socket of this kind, every one is made from its handle's class.
    if (round > 0) assert.equal(makesHandlesFor(kind), true, `sockets of kind ${kind} are made from their handle on this Node`);
    assert.equal(socket.isPaused(), true);
    if (kind === 'tcp') {
      assert.equal(socket.remoteAddress, '127.0.0.1');
      assert.equal(socket.remotePort, (target as { port: number }).port);
    }
    const message = randomBytes(200_000);
    socket.write(message);
    // Nothing is read while paused: the answer waits in the kernel.
    await sleep(50);
    assert.equal(pieces.length, 0, 'nothing read before resume()');
    socket.resume();
    // The client's end goes out after its data; the server's end follows its answers.
    socket.end();
    const answer = await received;
    assert.equal(answer.length, message.length);
    // Each chunk came back reversed: together they hold the same bytes.
    assert.deepEqual(Buffer.from(answer).sort(), Buffer.from(message).sort());
    if (!socket.destroyed) await once(socket, 'close');
  }
  assert.equal(openDescriptors(), before, 'every descriptor closed with its socket');
}

describe('sockets from descriptors', () => {
  test('TCP: made from the handle class after the first, paused, both ways, half-closed, descriptor owned', async () => {
    const server = await reversingServer({ port: 0, host: '127.0.0.1' });
    try {
      await checkKind('tcp', { host: '127.0.0.1', port: (server.address() as AddressInfo).port });
    } finally {
      server.close();
    }
  });

  test('unix: the same', async () => {
    const dir = tempDir('websocksy-descriptor-');
    const path = join(dir.path, 'reverse.sock');
    const server = await reversingServer({ path });
    try {
      await checkKind('unix', { path });
    } finally {
      server.close();
      dir.remove();
    }
  });
});
