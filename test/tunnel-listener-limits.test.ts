/*
 * What one identity's remote listeners may cost the server, asked for frame by frame on a raw
 * tunnel WebSocket: the addresses it may have bound at once, whatever its listen rule admits,
 * and the connections its listeners keep waiting while its session is detached, counted over
 * all of them together. Each bound is checked against the server's open descriptors. And what
 * a listen request may name: an address, never a name for the server to resolve.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { connect as tcpConnect, type Socket } from 'node:net';
import { describe, test } from 'node:test';
import { MAX_LISTENERS_PER_IDENTITY } from '../src/tunnel/remote-listeners.js';
import { decodeControl, decodeFrame, encodeJson, FrameType, TUNNEL_SUBPROTOCOL } from '../src/tunnel/protocol.js';
import { connect, type TestClient } from './helpers/client.js';
import { freePort } from './helpers/instances.js';
import { tempDir } from './helpers/peers.js';
import { openDescriptors } from './helpers/process-figures.js';
import { startTunnelServer } from './helpers/tunnel.js';
import type { RunningWebsocksy } from './helpers/websocksy.js';

const TOKEN = 'listener-limits-token';

async function helloAs(server: RunningWebsocksy, name: string): Promise<TestClient> {
  const client = await connect(`${server.url}/.tunnel`, TUNNEL_SUBPROTOCOL);
  client.ws.send(encodeJson(FrameType.control, 0, { type: 'hello', version: 1, name, token: TOKEN }));
  assert.equal(decodeControl(decodeFrame((await client.next()).data).body).type, 'welcome');
  return client;
}

/** Sends the listen requests and collects one answer for each. */
async function listenAll(client: TestClient, requests: ReadonlyArray<{ bind: string; port: number }>): Promise<Array<Record<string, unknown>>> {
  requests.forEach(({ bind, port }, listener) => client.ws.send(encodeJson(FrameType.control, 0, { type: 'listen', listener, bind, port })));
  const answers: Array<Record<string, unknown>> = [];
  while (answers.length < requests.length) answers.push(decodeControl(decodeFrame((await client.next(10_000)).data).body) as unknown as Record<string, unknown>);
  return answers;
}

function pid(server: RunningWebsocksy): number {
  const { pid: id } = server.process;
  assert.ok(id !== undefined);
  return id;
}

describe('remote listeners of one identity', () => {
  test(`a listen rule for any address binds at most ${MAX_LISTENERS_PER_IDENTITY} addresses; past that, listen-fail says why`, { timeout: 60_000 }, async () => {
    const dir = tempDir('websocksy-listener-limits-');
    const port = await freePort();
    const server = await startTunnelServer(dir.path, `bob ${TOKEN} listen=*:${port}\n`);
    try {
      const before = openDescriptors(pid(server));
      const client = await helloAs(server, 'bob');
      const asked = MAX_LISTENERS_PER_IDENTITY + 20;
      // 127.0.0.1, 127.0.0.2, ...: each a loopback address of its own, on the one port the rule names.
      const answers = await listenAll(client, Array.from({ length: asked }, (_, n) => ({ bind: `127.0.${1 + (n >> 7)}.${1 + (n & 127)}`, port })));
      const failed = answers.filter((answer) => answer['type'] === 'listen-fail');
      assert.equal(answers.length - failed.length, MAX_LISTENERS_PER_IDENTITY);
      assert.equal(failed.length, asked - MAX_LISTENERS_PER_IDENTITY);
      assert.match(String(failed[0]?.['reason']), new RegExp(`identity bob already listens on ${MAX_LISTENERS_PER_IDENTITY} addresses \\(limit ${MAX_LISTENERS_PER_IDENTITY}\\)`, 'u'));
      await server.waitForLog(/listen refused .*why="identity bob already listens on/u);
      const grown = openDescriptors(pid(server)) - before;
      assert.ok(grown <= MAX_LISTENERS_PER_IDENTITY + 8, `${grown} more descriptors`);
      client.ws.close();
    } finally {
      await server.stop();
      dir.remove();
    }
  });

  test('a listen rule for any address takes addresses, not names: a name, a port that is no port and a listener that is no id are refused, saying why', async () => {
    // A name was handed to the server's resolver (getaddrinfo) as the client wrote it.
    const dir = tempDir('websocksy-listener-limits-');
    const port = await freePort();
    const server = await startTunnelServer(dir.path, `dave ${TOKEN} listen=*:${port}\n`);
    try {
      const client = await helloAs(server, 'dave');
      const answers = await listenAll(client, [
        { bind: 'resolve-me.invalid', port },
        { bind: '127.0.0.1', port: port + 0.5 },
        { bind: 'localhost', port },
      ]);
      assert.deepEqual(answers.map((answer) => answer['type']), ['listen-fail', 'listen-fail', 'listen-ok']);
      assert.equal(answers[0]?.['reason'], 'bind address "resolve-me.invalid" is not an IP address or localhost');
      assert.equal(answers[1]?.['reason'], 'listen request needs listener, bind and port');
      client.ws.send(encodeJson(FrameType.control, 0, { type: 'listen', listener: -1, bind: '127.0.0.1', port }));
      assert.deepEqual(decodeControl(decodeFrame((await client.next(10_000)).data).body), { type: 'listen-fail', listener: -1, reason: 'listen request needs listener, bind and port' });
      await server.waitForLog(/listen refused .*address=resolve-me\.invalid:\d+ why="bind address/u);
      client.ws.close();
    } finally {
      await server.stop();
      dir.remove();
    }
  });

  test('connections waiting for a detached session are bounded over all its listeners together, not per listener', { timeout: 60_000 }, async () => {
    const dir = tempDir('websocksy-listener-limits-');
    const ports = [await freePort(), await freePort()];
    // A window of 64 MiB leaves the session room for one stream: one connection may wait for it.
    const server = await startTunnelServer(dir.path, `carol ${TOKEN} listen=127.0.0.1:${ports[0]} listen=127.0.0.1:${ports[1]}\n`, 'window = 64m\ngrace = 30\n');
    const sockets: Socket[] = [];
    try {
      const client = await helloAs(server, 'carol');
      const answers = await listenAll(client, (ports as number[]).map((port) => ({ bind: '127.0.0.1', port })));
      assert.deepEqual(answers.map((answer) => answer['type']), ['listen-ok', 'listen-ok']);
      client.ws.terminate();
      await server.waitForLog(/tunnel detached identity=carol/u);
      for (const port of ports) {
        const socket = tcpConnect({ host: '127.0.0.1', port });
        socket.on('error', () => undefined);
        sockets.push(socket);
        await once(socket, 'connect');
      }
      await server.waitForLog(new RegExp(`remote listener connection reset identity=carol .*address=127.0.0.1:${ports[1]} why="1 connections \\(the session's stream limit\\) already wait`, 'u'));
    } finally {
      for (const socket of sockets) socket.destroy();
      await server.stop();
      dir.remove();
    }
  });
});
