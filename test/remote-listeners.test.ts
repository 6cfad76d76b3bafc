/*
 * Remote listeners and the sessions that own them: a session that ends while its listener is
 * still being bound must not leave the port bound to nobody.
 */
import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import { test } from 'node:test';
import { RemoteListeners, type ListenerOwner } from '../src/tunnel/remote-listeners.js';
import { freePort } from './helpers/instances.js';

function owner(identity: string): ListenerOwner {
  return { identity, logFields: { identity }, abortAfterFault: () => undefined, accepted: (_listener, socket) => socket.destroy() };
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
