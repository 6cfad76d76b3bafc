/*
 * Remote listeners and the sessions that own them: a session that ends while its listener is
 * still being bound must not leave the port bound to nobody; a connection that arrives while the
 * session is detached waits, unread, for that session's return or a newer session of the
 * identity, and is reset when the listener closes.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { connect, createServer, type Socket } from 'node:net';
import { test } from 'node:test';
import { RemoteListeners, type ListenerOwner } from '../src/tunnel/remote-listeners.js';
import { freePort } from './helpers/instances.js';

function owner(identity: string): ListenerOwner {
  return { identity, attached: true, maxStreams: 64, logFields: { identity }, abortAfterFault: () => undefined, accepted: (_listener, socket) => socket.destroy() };
}

/** An owner that records what it is handed, and can be detached and attached again. */
function recordingOwner(identity: string, attached: boolean): ListenerOwner & { attached: boolean; readonly handed: Array<{ listener: number; socket: unknown }> } {
  const handed: Array<{ listener: number; socket: unknown }> = [];
  return { identity, attached, maxStreams: 8, handed, logFields: { identity }, abortAfterFault: () => undefined, accepted: (listener, socket) => void handed.push({ listener, socket }) };
}

/** Connects and waits until the listener has accepted (the connection is in its hands). */
async function connected(port: number): Promise<Socket> {
  const socket = connect(port, '127.0.0.1');
  await once(socket, 'connect');
  await new Promise((resolve) => setTimeout(resolve, 50));
  return socket;
}

async function until(condition: () => boolean): Promise<void> {
  for (let i = 0; i < 100 && !condition(); i++) await new Promise((resolve) => setTimeout(resolve, 10));
}

async function canBind(port: number): Promise<boolean> {
  const probe = createServer();
  return new Promise((resolve) => {
    probe.once('error', () => resolve(false));
    probe.listen(port, '127.0.0.1', () => probe.close(() => resolve(true)));
  });
}

test('a session released while its listener binds: the listen fails and the port is free again', async () => {
  const listeners = new RemoteListeners();
  const alice = owner('alice');
  const port = await freePort();
  const binding = listeners.listen(alice, 0, '127.0.0.1', port);
  listeners.release(alice);
  await assert.rejects(binding, /session ended while 127\.0\.0\.1:\d+ was being bound/);
  assert.deepEqual(listeners.addressesOf(alice), []);
  for (let i = 0; i < 20 && !(await canBind(port)); i++) await new Promise((resolve) => setTimeout(resolve, 25));
  assert.ok(await canBind(port), 'the port was let go');
});

test('the same identity takes its bound listener over; another identity is refused', async () => {
  const listeners = new RemoteListeners();
  const first = owner('alice');
  const port = await listeners.listen(first, 0, '127.0.0.1', await freePort());
  const second = owner('alice');
  assert.equal(await listeners.listen(second, 1, '127.0.0.1', port), port);
  await assert.rejects(listeners.listen(owner('bob'), 0, '127.0.0.1', port), /held by another identity/);
  listeners.release(second);
  assert.deepEqual(listeners.addressesOf(second), []);
});

test('a connection for a detached session waits; a newer session of the identity that asks for the address gets it', async () => {
  const listeners = new RemoteListeners();
  const old = recordingOwner('alice', false);
  const port = await listeners.listen(old, 0, '127.0.0.1', await freePort());
  const client = await connected(port);
  assert.equal(old.handed.length, 0, 'not handed to a session whose client is away');
  // A restarted client: a new session, attached, asks for the same address as its listener 3.
  const fresh = recordingOwner('alice', true);
  await listeners.listen(fresh, 3, '127.0.0.1', port);
  assert.equal(fresh.handed.length, 1);
  assert.equal(fresh.handed[0]?.listener, 3);
  assert.equal(old.handed.length, 0);
  (fresh.handed[0]?.socket as Socket).destroy();
  client.destroy();
  listeners.release(fresh);
});

test('a connection for a detached session goes to it when it is attached again', async () => {
  const listeners = new RemoteListeners();
  const alice = recordingOwner('alice', false);
  const port = await listeners.listen(alice, 2, '127.0.0.1', await freePort());
  const clients = [await connected(port), await connected(port)];
  listeners.ownerAttached(alice);
  assert.equal(alice.handed.length, 0, 'still detached: nothing handed');
  alice.attached = true;
  listeners.ownerAttached(alice);
  assert.deepEqual(alice.handed.map((each) => each.listener), [2, 2]);
  const third = await connected(port);
  await until(() => alice.handed.length === 3);
  assert.equal(alice.handed.length, 3, 'an attached session is handed its connections at once');
  for (const { socket } of alice.handed) (socket as Socket).destroy();
  for (const client of [...clients, third]) client.destroy();
  listeners.release(alice);
});

test("what waits when the session ends is reset; past the session's stream limit, a connection is reset at once", async () => {
  const listeners = new RemoteListeners();
  const alice = recordingOwner('alice', false);
  const port = await listeners.listen(alice, 0, '127.0.0.1', await freePort());
  const outcomes: Array<Promise<string>> = [];
  for (let i = 0; i < 9; i++) {
    const client = connect(port, '127.0.0.1');
    outcomes.push(new Promise<string>((resolve) => {
      client.on('error', (error: NodeJS.ErrnoException) => resolve(error.code ?? 'error'));
      client.on('close', () => resolve('closed'));
    }));
    // The ninth may be reset before its connect completes.
    await Promise.race([once(client, 'connect').catch(() => undefined), outcomes[i]]);
  }
  // The ninth is reset on arrival (the owner's limit is 8 streams); the release resets the 8 that wait.
  const first = await Promise.race([...outcomes.map((outcome, index) => outcome.then(() => index)), new Promise((resolve) => setTimeout(() => resolve('none'), 2000))]);
  assert.equal(first, 8, 'the connection past the limit is reset at once');
  listeners.release(alice);
  const all = await Promise.all(outcomes);
  assert.ok(all.every((outcome) => outcome === 'ECONNRESET'), all.join(' '));
  assert.equal(alice.handed.length, 0);
});
