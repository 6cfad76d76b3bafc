/*
 * The keep-alive (`ping`) on the clients of a websocket route and of a route module, as on the
 * bridge's (bridge.test.ts, "keep-alive"): every client is pinged each interval; one that
 * answers stays, one that stops answering is cut, and a websocket route's upstream connection
 * closes with it. Before, neither kind of client was pinged at all: a client that vanished
 * without a FIN (a laptop closed, a network gone) held its connection, and the relay's upstream
 * connection, for good, and a proxy in front cut quiet ones at its idle timeout.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { writeFileSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';
import { WebSocketServer, type WebSocket } from 'ws';
import { closeClient, connect, socketUnder } from './helpers/client.js';
import { tempDir } from './helpers/peers.js';
import { ROOT, startWebsocksy, type RunningWebsocksy } from './helpers/websocksy.js';

describe('keep-alive on websocket routes and route modules', () => {
  const dir = tempDir('websocksy-route-keep-alive-');
  let upstream: WebSocketServer;
  /** The upstream's side of each relay, by the path it was opened on. */
  const upstreamSockets = new Map<string, WebSocket>();
  let server: RunningWebsocksy;

  before(async () => {
    upstream = new WebSocketServer({ host: '127.0.0.1', port: 0 });
    await once(upstream, 'listening');
    upstream.on('connection', (socket, request) => {
      upstreamSockets.set(request.url ?? '', socket);
      socket.on('message', (data, binary) => socket.send(data, { binary }));
    });
    const port = (upstream.address() as { port: number }).port;
    writeFileSync(
      `${dir.path}/keep-alive.cfg`,
      [
        '[core]', 'listen = 127.0.0.1', 'port = 0', 'ping = 0.5',
        '[route /relay]', `websocket = ws://127.0.0.1:${port}/up`,
        '[route /lab]', `module = ${ROOT}test/modules/route_lab.mjs`, '',
      ].join('\n'),
    );
    server = await startWebsocksy([`${dir.path}/keep-alive.cfg`]);
  });

  after(async () => {
    await server.stop();
    upstream.close();
    dir.remove();
  });

  for (const route of ['/relay', '/lab'] as const) {
    test(`${route}: a client that answers pings is pinged each interval and stays`, async () => {
      const client = await connect(`ws://127.0.0.1:${server.port}${route}/answering`);
      let pings = 0;
      client.ws.on('ping', () => pings++);
      await new Promise((resolve) => setTimeout(resolve, 1750));
      assert.ok(pings >= 2, `expected a ping each half second, got ${pings}`);
      client.ws.send('still here');
      assert.equal((await client.next()).data.toString(), 'still here');
      await closeClient(client);
    });
  }

  test('/relay: a client that stops answering is cut, and its upstream connection closed', async () => {
    const client = await connect(`ws://127.0.0.1:${server.port}/relay/silent`);
    socketUnder(client.ws).pause();
    await server.waitForLog(/websocket relay closed id=\d+ route=\/relay path=\/relay\/silent .*code=1006 why="no answer to ping within 0\.5 s"/, 8000);
    const upstreamSide = upstreamSockets.get('/up/silent');
    assert.ok(upstreamSide !== undefined, 'the relay opened its upstream connection');
    if (upstreamSide.readyState !== upstreamSide.CLOSED) await once(upstreamSide, 'close');
    client.ws.terminate();
  });

  test("/lab: a route module's client that stops answering is cut", async () => {
    const client = await connect(`ws://127.0.0.1:${server.port}/lab/silent`);
    socketUnder(client.ws).pause();
    await server.waitForLog(/route module socket closed id=\d+ route=\/lab path=\/lab\/silent .*code=1006 why="no answer to ping within 0\.5 s"/, 8000);
    client.ws.terminate();
  });
});
