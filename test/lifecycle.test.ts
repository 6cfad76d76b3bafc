/*
 * Shutdown: SIGINT, and SIGTERM with drain-timeout 0, close every client with 1001 at once, close
 * the peers and exit 0 (the drain: drain.test.ts). A signal that comes while the server starts
 * is held until it is up (src/server/held-signals.ts); a second stop signal then exits at once.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import type { Socket } from 'node:net';
import { writeFileSync } from 'node:fs';
import { after, describe, test } from 'node:test';
import { connect } from './helpers/client.js';
import { streamServer, tempDir } from './helpers/peers.js';
import { ROOT, startWebsocksy, type RunningWebsocksy } from './helpers/websocksy.js';

describe('shutdown', () => {
  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    test(`${signal}${signal === 'SIGTERM' ? ' (drain-timeout 0)' : ''} with live connections: 1001 to every client, peers closed, exit 0`, async () => {
      const peerSockets: Socket[] = [];
      const peer = await streamServer((socket) => {
        peerSockets.push(socket);
        socket.pipe(socket);
      });
      const server = await startWebsocksy(['-l', '127.0.0.1', '-p', '0', '--drain-timeout', '0', '-c', `host=${peer.address}`]);
      try {
        const clients = [await connect(server.url), await connect(server.url)];
        for (const client of clients) {
          client.ws.send('ping');
          await client.next();
        }
        const peersClosed = peerSockets.map((socket) => once(socket, 'close'));
        const code = await server.stop(signal);
        assert.equal(code, 0);
        for (const client of clients) {
          const closed = await client.closed();
          assert.deepEqual(closed, { code: 1001, reason: 'Shutting down' });
        }
        await Promise.all(peersClosed);
        assert.match(server.log(), new RegExp(`shutting down signal=${signal} clients=2`));
        assert.equal(server.log().match(/close id=\d+ .*code=1001 /g)?.length, 2);
      } finally {
        await server.stop('SIGKILL');
        await peer.close();
      }
    });
  }
});

describe('signals while the server starts', () => {
  const dir = tempDir('websocksy-lifecycle-');
  after(() => dir.remove());
  let starts = 0;

  /** A websocksy whose start waits, in its route module's init(), for the file `release` makes. */
  async function heldStart(): Promise<{ server: RunningWebsocksy; release: () => void }> {
    const gate = `${dir.path}/gate-${++starts}`;
    const config = `${dir.path}/held-${starts}.cfg`;
    writeFileSync(config, ['[core]', 'listen = 127.0.0.1', 'port = 0', '[route /lab]', `module = ${ROOT}test/modules/route_lab.mjs`, `module-config = init-waits-for=${gate}`, ''].join('\n'));
    const server = await startWebsocksy([config], { readyPattern: /engine (native|JS fallback)/ });
    return { server, release: () => writeFileSync(gate, '') };
  }

  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    test(`${signal} while it starts: it starts, then stops as ${signal} stops it, exit 0`, async () => {
      const { server, release } = await heldStart();
      try {
        server.process.kill(signal);
        await server.waitForLog(new RegExp(`signal held until the server is up signal=${signal}`));
        release();
        assert.equal(await server.exited(), 0);
        assert.match(server.log(), /listening .*port=\d+[^]*shutting down signal=/);
      } finally {
        await server.stop('SIGKILL');
      }
    });
  }

  test('SIGHUP while it starts: it starts, then reloads and keeps serving', async () => {
    const { server, release } = await heldStart();
    try {
      server.process.kill('SIGHUP');
      await server.waitForLog(/signal held until the server is up signal=SIGHUP/);
      release();
      await server.waitForLog(/reloaded generation=/);
      assert.equal(server.process.exitCode, null);
      assert.equal(await server.stop('SIGINT'), 0);
    } finally {
      await server.stop('SIGKILL');
    }
  });

  test('a second stop signal while it starts exits at once, 1', async () => {
    const { server } = await heldStart();
    try {
      server.process.kill('SIGTERM');
      await server.waitForLog(/signal held until the server is up signal=SIGTERM/);
      server.process.kill('SIGINT');
      assert.equal(await server.exited(), 1);
      assert.match(server.log(), /second signal while starting: exiting now signal=SIGINT/);
      assert.doesNotMatch(server.log(), /listening /);
    } finally {
      await server.stop('SIGKILL');
    }
  });
});
