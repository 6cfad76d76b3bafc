/*
 * A websocket route's upstream that stops reading and floods pings: every ping draws a pong
 * from websocksy's client, queued while the upstream reads nothing. Before the relay set its
 * client's send bound, those pongs piled up in memory without end; now the upstream connection
 * is cut past the bound the client's own messages have, and the client is told why.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { writeFileSync } from 'node:fs';
import type { AddressInfo, Socket } from 'node:net';
import { after, before, describe, test } from 'node:test';
import WebSocket, { WebSocketServer } from 'ws';
import { tempDir } from './helpers/peers.js';
import { startWebsocksy, type RunningWebsocksy } from './helpers/websocksy.js';

/** Unmasked pings of 125 bytes, the most a control frame carries: each draws a pong of 131. */
const PINGS = Buffer.concat(Array.from({ length: 4096 }, () => Buffer.concat([Buffer.from([0x89, 125]), Buffer.alloc(125, 0x70)])));
const CUT_WITHIN_MS = 30_000;

describe('a websocket route whose upstream never reads and floods pings', () => {
  const dir = tempDir();
  let upstream: WebSocketServer;
  let websocksy: RunningWebsocksy;
  let flooding = true;

  before(async () => {
    upstream = new WebSocketServer({ host: '127.0.0.1', port: 0 });
    await once(upstream, 'listening');
    upstream.on('connection', (_ws, request) => {
      const socket = request.socket as Socket;
      socket.pause();
      socket.on('error', () => undefined);
      const flood = (): void => {
        while (flooding && !socket.destroyed && socket.writable) {
          if (!socket.write(PINGS)) {
            socket.once('drain', flood);
            return;
          }
        }
      };
      setImmediate(flood);
    });
    const port = (upstream.address() as AddressInfo).port;
    writeFileSync(`${dir.path}/flood.cfg`, `[core]\nlisten = 127.0.0.1\nport = 0\n\n[route /r]\nwebsocket = ws://127.0.0.1:${port}\n`);
    websocksy = await startWebsocksy([`${dir.path}/flood.cfg`]);
  });

  after(async () => {
    flooding = false;
    for (const client of upstream.clients) client.terminate();
    upstream.close();
    await websocksy.stop();
    dir.remove();
  });

  test('the upstream is cut once the pongs pass the send bound, and the client gets 1014 with the reason', { timeout: CUT_WITHIN_MS + 10_000 }, async () => {
    const client = new WebSocket(`ws://127.0.0.1:${websocksy.port}/r`);
    client.on('error', () => undefined);
    const [code, reason] = (await Promise.race([
      once(client, 'close'),
      new Promise((_, reject) => setTimeout(() => reject(new Error(`not closed within ${CUT_WITHIN_MS} ms`)), CUT_WITHIN_MS).unref()),
    ])) as [number, Buffer];
    assert.equal(code, 1014);
    assert.match(reason.toString(), /the server does not read: \d+ bytes wait to go to it, over the \d+ allowed/);
    await websocksy.waitForLog(/websocket upstream error .*why="the server does not read/);
  });
});
