/*
 * Drop-in plugins end to end: the real websocksy process loading C plugins (through koffi) and
 * JS plugins from a plugin folder, real peers, a real WebSocket client.
 */
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import type { Socket } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { WsOperation } from '../src/core/api.js';
import { jsonFraming } from '../src/framing/json.js';
import { closeClient, connect, type TestClient } from './helpers/client.js';
import { feed, jsonSample, randomChunks, type Frame } from './helpers/framing-streams.js';
import { streamServer, tcpEcho, tempDir, type Peer } from './helpers/peers.js';
import { BUILT_PLUGINS, pluginFolder } from './helpers/plugins.js';
import { Random, testSeed } from './helpers/random.js';
import { startWebsocksy } from './helpers/websocksy.js';

const SEED = testSeed();
/** The plugins here answer with local peers: allow-peers lets them through (docs/allow-lists.md). */
const LOCAL = ['-l', '127.0.0.1', '-p', '0', '-k', '0', '--allow-peers', 'tcp:127.0.0.1:*'];

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

/** Sends `messages` through a new client and returns what comes back, in order. */
async function roundTrip(url: string, messages: readonly string[], expected: number): Promise<string[]> {
  const client = await connect(url);
  try {
    for (const message of messages) client.ws.send(message);
    const received: string[] = [];
    while (received.length < expected) received.push((await client.next()).data.toString());
    return received;
  } finally {
    await closeClient(client);
  }
}

describe('the example JS plugins in plugins/', () => {
  const dir = tempDir();
  let echo: Peer;
  before(async () => {
    echo = await tcpEcho();
  });
  after(async () => {
    await echo.close();
    dir.remove();
  });

  test('backend_example routes by its JSON table (read asynchronously); framing_netstring frames the peer stream', async () => {
    const routes = `${dir.path}/routes.json`;
    writeFileSync(routes, JSON.stringify({ '/netstrings': { host: echo.address, framing: 'netstring' } }));
    const server = await startWebsocksy([...LOCAL, '-b', 'example', '-c', `routes=${routes}`, '-c', `default=${echo.address}`]);
    try {
      assert.match(server.log(), /backend plugin loaded backend=example file=\S+backend_example\.mjs/);
      assert.match(server.log(), /framing plugin loaded framing=netstring file=\S+framing_netstring\.mjs/);
      assert.deepEqual(await roundTrip(`${server.url}/netstrings`, ['3:ab', 'c,2:', 'xy,0:,'], 3), ['3:abc,', '2:xy,', '0:,']);
      assert.deepEqual(await roundTrip(`${server.url}/elsewhere`, ['as it comes'], 1), ['as it comes']);
    } finally {
      await server.stop();
    }
  });

  test('backend_example reads a relative routes file from its config folder and answers a named subprotocol only when offered', async () => {
    writeFileSync(`${dir.path}/routes.json`, JSON.stringify({ '/mqtt': { host: echo.address, framing: 'binary', protocol: 'mqtt' } }));
    writeFileSync(`${dir.path}/example.cfg`, '[core]\nbackend = example\n[backend]\nroutes = routes.json\n');
    // websocksy runs from the repository root, where no routes.json is.
    const server = await startWebsocksy([`${dir.path}/example.cfg`, ...LOCAL]);
    try {
      const offered = await connect(`${server.url}/mqtt`, ['chat', 'MQTT']);
      assert.equal(offered.ws.protocol, 'MQTT');
      await closeClient(offered);
      const none = await connect(`${server.url}/mqtt`);
      assert.equal(none.ws.protocol, '');
      none.ws.send(Buffer.from('ping'));
      assert.equal((await none.next()).data.toString(), 'ping');
      await closeClient(none);
      await assert.rejects(connect(`${server.url}/elsewhere`), /HTTP 404/);
    } finally {
      await server.stop();
    }
  });
});

describe('JS plugins', () => {
  let echo: Peer;
  before(async () => {
    echo = await tcpEcho();
  });
  after(async () => {
    await echo.close();
  });

  test('an async query that waits does not stall other connections', async () => {
    const folder = pluginFolder([], {
      'backend_slow.mjs': `export default () => ({
        name: 'slow',
        configure(key, value) { this.peer = value; },
        async query(request) {
          if (request.endpoint === '/slow') await new Promise((resolve) => setTimeout(resolve, 1500));
          return { host: this.peer };
        },
      });`,
    });
    const server = await startWebsocksy([...LOCAL, '-P', folder.path, '-b', 'slow', '-c', `peer=${echo.address}`]);
    try {
      const slow = connect(`${server.url}/slow`);
      const started = Date.now();
      assert.deepEqual(await roundTrip(`${server.url}/fast`, ['fast'], 1), ['fast']);
      assert.ok(Date.now() - started < 1000, 'the fast connection did not wait for the slow query');
      await closeClient(await slow);
    } finally {
      await server.stop();
      folder.remove();
    }
  });

  test('the plugin folder is known before any other setting applies, from the file or the flags', async () => {
    const folder = pluginFolder([], {
      'backend_late.mjs': `export default () => {
        let peer = '';
        return { name: 'late', configure(key, value) { peer = value; }, query: () => ({ host: peer }) };
      };`,
    });
    const dir = tempDir();
    const config = `${dir.path}/websocksy.cfg`;
    writeFileSync(config, `[core]\nbackend = late\nplugins = ${folder.path}\n[backend]\npeer = ${echo.address}\n`);
    try {
      for (const args of [[config], ['-b', 'late', '-c', `peer=${echo.address}`, '-P', folder.path]]) {
        const server = await startWebsocksy([...LOCAL, ...args]);
        try {
          assert.deepEqual(await roundTrip(`${server.url}/`, ['late'], 1), ['late'], args.join(' '));
        } finally {
          await server.stop();
        }
      }
    } finally {
      folder.remove();
      dir.remove();
    }
  });

  test('a framing module may export several definitions; one named like a builtin replaces it', async () => {
    const folder = pluginFolder([], {
      'framing_pairs.mjs': `const pairs = { name: 'binary', frame: (data) => (data === null || data.length < 2 ? 0 : 2) };
        const triples = { name: 'triples', frame: (data) => (data === null || data.length < 3 ? 0 : 3) };
        export default [pairs, triples];`,
    });
    const server = await startWebsocksy([...LOCAL, '-P', folder.path, '-c', `host=${echo.address}`, '-c', 'framing=binary']);
    try {
      assert.match(server.log(), /framing plugin replaces framing=binary file=\S+framing_pairs\.mjs replaced=builtin/);
      assert.match(server.log(), /framing plugin loaded framing=triples/);
      assert.deepEqual(await roundTrip(`${server.url}/`, ['abcde', 'f'], 3), ['ab', 'cd', 'ef']);
    } finally {
      await server.stop();
      folder.remove();
    }
  });
});
