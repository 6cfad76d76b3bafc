/*
 * Plugin authors import the API from the package: `import type { ... } from 'websocksy'`. This
 * file compiles only if those imports resolve through package.json's exports to the built
 * declarations; the test then runs a plugin written against them through the real framer, and
 * imports the API's values (opcodes) the way a JS plugin inside the package would.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Backend, BackendFactory, FramingDefinition, FramingFunction, PeerInfo, PeerQuery } from 'websocksy';
import { WEBSOCKSY_API_VERSION, WsOperation } from 'websocksy';
import { feed } from './helpers/framing-streams.js';

/** A two-byte big-endian length prefix, then that many bytes; text. */
const frame: FramingFunction = (data, _lastRead, ctx) => {
  if (data === null || data.length < 2) return 0;
  const length = 2 + (((data[0] as number) << 8) | (data[1] as number));
  ctx.opcode = WsOperation.text;
  return data.length >= length ? length : 0;
};
const length16: FramingDefinition = { name: 'length16', frame };

const createBackend: BackendFactory = (host) => {
  const backend: Backend = {
    name: 'typed',
    query: async (request: PeerQuery): Promise<PeerInfo | null> => {
      await Promise.resolve();
      return host.framing('length16') === undefined ? null : { host: `tcp://127.0.0.1:9${request.endpoint.length}`, framing: 'length16' };
    },
  };
  return backend;
};

test('a plugin typed with the package\'s own exports works with websocksy\'s framer', async () => {
  assert.equal(WEBSOCKSY_API_VERSION, 1);
  const message = Buffer.from([0, 3, 0x61, 0x62, 0x63]);
  assert.deepEqual(feed(length16, null, [message.subarray(0, 1), message.subarray(1)]).frames, [{ bytes: message, opcode: WsOperation.text }]);
  const backend = createBackend({ framing: (name) => (name === 'length16' ? length16 : undefined), warn: () => undefined });
  const query: PeerQuery = { endpoint: '/x', protocols: [], headers: [], clientAddress: '127.0.0.1', connectionId: 1 };
  assert.deepEqual(await backend.query(query), { host: 'tcp://127.0.0.1:92', framing: 'length16' });
});
