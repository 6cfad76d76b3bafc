/*
 * Drop-in plugins end to end: the real websocksy process loading C plugins (through koffi) and
 * JS plugins from a plugin folder, real peers, a real WebSocket client.
 */
import assert from 'node:assert/strict';
import type { Socket } from 'node:net';
import { describe, test } from 'node:test';
import { WsOperation } from '../src/core/api.js';
import { jsonFraming } from '../src/framing/json.js';
import { connect, type TestClient } from './helpers/client.js';
import { feed, jsonSample, randomChunks, type Frame } from './helpers/framing-streams.js';
import { streamServer } from './helpers/peers.js';
import { BUILT_PLUGINS } from './helpers/plugins.js';
import { Random, testSeed } from './helpers/random.js';
import { startWebsocksy } from './helpers/websocksy.js';

const SEED = testSeed();
const LOCAL = ['-l', '127.0.0.1', '-p', '0', '-k', '0'];

/** Every message until the connection closes, with the close code. */
async function collect(client: TestClient): Promise<{ frames: Frame[]; code: number }> {
  const { code } = await client.closed(10_000);
  const frames = client.takeAll().map(({ data, binary }) => ({ bytes: data, opcode: binary ? WsOperation.binary : WsOperation.text }));
  return { frames, code };
}

/** A peer that sends `chunks`, one write per loop turn so that they arrive apart, then closes. */
function sendingPeer(chunks: readonly Buffer[]): ReturnType<typeof streamServer> {
  return streamServer((socket: Socket) => {
    let index = 0;
    const next = (): void => {
      const chunk = chunks[index++];
      if (chunk === undefined) socket.end();
      else socket.write(chunk, () => setImmediate(next));
    };
    next();
  });
}

describe('C framing plugins on the wire', () => {
  test('json from build/plugins replaces the builtin (logged) and frames a peer stream like it', async () => {
    const random = new Random(SEED);
    const { stream } = jsonSample(random);
    const expected = feed(jsonFraming, null, [stream]);
    const peer = await sendingPeer(randomChunks(random, stream));
    const server = await startWebsocksy([...LOCAL, '-P', BUILT_PLUGINS, '-c', `host=${peer.address}`, '-c', 'framing=json']);
    try {
      assert.match(server.log(), /framing plugin replaces framing=json file=\S+framing_json\.so replaced=builtin/);
      const received = await collect(await connect(`${server.url}/json`));
      assert.equal(received.code, 1000, `peer close, TEST_SEED=${SEED}`);
      assert.deepEqual(received.frames, expected.frames, `TEST_SEED=${SEED}`);
    } finally {
      await server.stop();
      await peer.close();
    }
  });
});
