/* Shutdown: SIGINT, and SIGTERM with drain-timeout 0, close every client with 1001 at once, close the peers and exit 0 (the drain: drain.test.ts). */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import type { Socket } from 'node:net';
import { describe, test } from 'node:test';
import { connect } from './helpers/client.js';
import { streamServer } from './helpers/peers.js';
import { startWebsocksy } from './helpers/websocksy.js';

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
