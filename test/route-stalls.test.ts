/*
 * An HTTP route's upstream that stands still once the exchange has begun: one that stops in
 * the middle of its body, or takes none of an upload, held the client (and a connection to the
 * upstream) until the client gave up; now the route's `timeout` ends it, directly and through
 * a tunnel (`via`). And the other side of the rule: a slow client, a slow upload and a body
 * that trickles are never taken for a stall. curl is the client where a user's tool decides
 * what it saw. A websocket route's upstream that trickles its 101 is held to the same timeout,
 * as a whole: no piece of it ever comes a timeout after the last.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { after, before, describe, test } from 'node:test';
import WebSocket from 'ws';
import { websocketAccept } from '../src/lib/websocket-accept.js';
import { runCurl, SKIP_WITHOUT_CURL } from './helpers/curl.js';
import { core, startInstance, tunnelSection, upstreamSection } from './helpers/instances.js';
import { tempDir } from './helpers/peers.js';
import { until } from './helpers/session-client.js';
import type { RunningWebsocksy } from './helpers/websocksy.js';

const MIB = 1024 * 1024;
/** The routes' timeout: a stall is noticed one to two of these after the last byte. */
const TIMEOUT_S = 1;

/** What the upstream does, by the request's path (after the route's prefix). */
type Behaviour = 'stall-body' | 'cut-body' | 'no-read' | 'trickle' | 'big' | 'count-upload' | 'slow-upgrade';

interface RawUpstream {
  readonly port: number;
  /** Connections open right now, by what they were asked. */
  open(behaviour: Behaviour): number;
  /** Lets the paused connections read again (a paused socket never sees its peer's close). */
  readAgain(behaviour: Behaviour): void;
  close(): Promise<void>;
}

/** Sends `size` bytes of 'a', with backpressure, and ends. */
function writeBody(socket: Socket, size: number): void {
  const piece = Buffer.alloc(64 * 1024, 0x61);
  let left = size;
  const go = (): void => {
    while (left > 0) {
      const chunk = piece.subarray(0, Math.min(left, piece.length));
      left -= chunk.length;
      if (!socket.write(chunk)) {
        socket.once('drain', go);
        return;
      }
    }
    socket.end();
  };
  go();
}

/** A node:net upstream that answers by hand, so it can stop anywhere. */
async function rawUpstream(): Promise<RawUpstream> {
  const openBy = new Map<Behaviour, Set<Socket>>();
  const server: Server = createServer((socket) => {
    socket.on('error', () => socket.destroy());
    let head = '';
    const onHead = (chunk: Buffer): void => {
      head += chunk.toString('latin1');
      const end = head.indexOf('\r\n\r\n');
      if (end < 0) return;
      socket.off('data', onHead);
      const behaviour = (/^\S+ \/([a-z-]+)/.exec(head)?.[1] ?? 'stall-body') as Behaviour;
      const sockets = openBy.get(behaviour) ?? new Set<Socket>();
      openBy.set(behaviour, sockets);
      sockets.add(socket);
      socket.once('close', () => sockets.delete(socket));
      answer(socket, behaviour, Buffer.from(head.slice(end + 4), 'latin1'), head);
    };
    socket.on('data', onHead);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return {
    port: (server.address() as { port: number }).port,
    open: (behaviour) => openBy.get(behaviour)?.size ?? 0,
    readAgain: (behaviour) => {
      for (const socket of openBy.get(behaviour) ?? []) socket.resume();
    },
    close: async () => {
      for (const sockets of openBy.values()) for (const socket of sockets) socket.destroy();
      server.close();
      await once(server, 'close');
    },
  };
}

function answer(socket: Socket, behaviour: Behaviour, bodyStart: Buffer, head: string): void {
  switch (behaviour) {
    case 'stall-body':
      socket.write('HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n0123456789');
      return;
    case 'cut-body':
      socket.end('HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n0123456789');
      return;
    case 'no-read':
      socket.pause();
      return;
    case 'trickle': {
      // A byte every 0.4 s, 12 of them: 4.4 s in all, never a second without one.
      socket.write('HTTP/1.1 200 OK\r\nContent-Length: 12\r\nConnection: close\r\n\r\n');
      let sent = 0;
      const timer = setInterval(() => {
        if (++sent < 12) socket.write('x');
        else {
          socket.end('x');
          clearInterval(timer);
        }
      }, 400);
      socket.once('close', () => clearInterval(timer));
      return;
    }
    case 'slow-upgrade': {
      // A valid 101 in 12 pieces 0.4 s apart: 4.4 s in all, never a second without a piece.
      const key = /sec-websocket-key: *(\S+)/i.exec(head)?.[1] ?? '';
      const whole = Buffer.from(`HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${websocketAccept(key)}\r\n\r\n`);
      const size = Math.ceil(whole.length / 12);
      let sent = 0;
      const timer = setInterval(() => {
        socket.write(whole.subarray(sent * size, (sent + 1) * size));
        if (++sent === 12) clearInterval(timer);
      }, 400);
      socket.once('close', () => clearInterval(timer));
      return;
    }
    case 'big':
      socket.write(`HTTP/1.1 200 OK\r\nContent-Length: ${8 * MIB}\r\nConnection: close\r\n\r\n`);
      writeBody(socket, 8 * MIB);
      return;
    case 'count-upload': {
      const length = Number(/content-length: *(\d+)/i.exec(head)?.[1] ?? 0);
      let received = bodyStart.length;
      const done = (): void => {
        const text = String(received);
        socket.end(`HTTP/1.1 200 OK\r\nContent-Length: ${text.length}\r\nConnection: close\r\n\r\n${text}`);
      };
      if (received >= length) done();
      else
        socket.on('data', (chunk: Buffer) => {
          received += chunk.length;
          if (received >= length) done();
        });
    }
  }
}

interface CurlResult {
  readonly code: number;
  readonly status: string;
  readonly size: number;
  readonly seconds: number;
}

/** curl's view of one request: exit code, status, body bytes, time taken (bounded at 15 s). */
async function curl(url: string, extra: readonly string[] = []): Promise<CurlResult> {
  const run = await runCurl(['--output', '/dev/null', '--write-out', '%{http_code} %{size_download}', ...extra, url], 15);
  const [status = '', size = '0'] = run.text.trim().split(' ');
  return { code: run.code, status, size: Number(size), seconds: run.seconds };
}

/** A POST of `size` bytes with node:http, which writes it all at once: its status and time taken (bounded at 15 s). */
function nodePost(url: string, size: number): Promise<{ status: string; seconds: number }> {
  const started = Date.now();
  const seconds = (): number => (Date.now() - started) / 1000;
  return new Promise((resolve) => {
    const req = request(url, { method: 'POST', agent: false, headers: { 'content-length': String(size) } }, (res) => {
      res.resume();
      res.on('end', () => resolve({ status: String(res.statusCode), seconds: seconds() }));
    });
    const timer = setTimeout(() => req.destroy(new Error('no answer in 15 s')), 15_000);
    req.on('close', () => clearTimeout(timer));
    req.on('error', (error) => resolve({ status: error.message, seconds: seconds() }));
    req.end(Buffer.alloc(size, 0x62));
  });
}

/** One raw request; resolves with every byte answered once the server closes (or after `ms`). */
async function rawExchange(port: number, request: string, pauseMs: number, ms = 15_000): Promise<{ answer: Buffer; closed: boolean }> {
  const socket = connect(port, '127.0.0.1');
  await once(socket, 'connect');
  const chunks: Buffer[] = [];
  socket.on('data', (chunk: Buffer) => chunks.push(chunk));
  socket.on('error', () => undefined);
  socket.write(request);
  if (pauseMs > 0) {
    socket.pause();
    await new Promise((resolve) => setTimeout(resolve, pauseMs));
    socket.resume();
  }
  const closed = await Promise.race([once(socket, 'close').then(() => true), new Promise<boolean>((resolve) => setTimeout(() => resolve(false), ms))]);
  socket.destroy();
  return { answer: Buffer.concat(chunks), closed };
}

describe('http routes whose upstream stands still', { skip: SKIP_WITHOUT_CURL }, () => {
  const dir = tempDir('websocksy-stalls-');
  let upstream: RawUpstream;
  /** An upstream that reads nothing at all, not even a request's head. */
  let silent: Server;
  const silentSockets = new Set<Socket>();
  let hub: RunningWebsocksy;
  let far: RunningWebsocksy;
  let url = '';

  before(async () => {
    upstream = await rawUpstream();
    silent = createServer((socket) => {
      socket.pause();
      silentSockets.add(socket);
      socket.once('close', () => silentSockets.delete(socket));
    });
    silent.listen(0, '127.0.0.1');
    await once(silent, 'listening');
    const silentPort = (silent.address() as { port: number }).port;
    const up = `http://127.0.0.1:${upstream.port}/`;
    const mute = `http://127.0.0.1:${silentPort}/`;
    hub = await startInstance(
      dir.path,
      'hub',
      core() + tunnelSection(dir.path, 'hub', `far tok-far connect=127.0.0.1:${upstream.port}\n`) +
        `[route /r]\nto = ${up}\ntimeout = ${TIMEOUT_S}\n[route /t]\nto = ${up}\nvia = far\ntimeout = ${TIMEOUT_S}\n` +
        `[route /rs]\nto = ${mute}\ntimeout = ${TIMEOUT_S}\n[route /ts]\nto = ${mute}\nvia = far\ntimeout = ${TIMEOUT_S}\n` +
        `[route /ws]\nwebsocket = ws://127.0.0.1:${upstream.port}/\ntimeout = ${TIMEOUT_S}\n`,
    );
    far = await startInstance(dir.path, 'far', core() + upstreamSection('hub', hub.port, 'far', 'tok-far', `accept = 127.0.0.1:${upstream.port}, 127.0.0.1:${silentPort}\n`), 1);
    url = `http://127.0.0.1:${hub.port}`;
  });

  after(async () => {
    await far.stop();
    await hub.stop();
    await upstream.close();
    for (const socket of silentSockets) socket.destroy();
    silent.close();
    dir.remove();
  });

  for (const [route, how] of [['/r', 'directly'], ['/t', 'through a tunnel']] as const) {
    test(`a body that stops half-way is cut after the timeout, ${how}, and the upstream's connection closed`, async () => {
      const result = await curl(`${url}${route}/stall-body`);
      // curl's 18: the transfer ended with bytes still owed.
      assert.deepEqual([result.code, result.status, result.size], [18, '200', 10], JSON.stringify(result));
      assert.ok(result.seconds >= TIMEOUT_S && result.seconds < 3 * TIMEOUT_S + 1, `cut after ${result.seconds} s`);
      await hub.waitForLog(new RegExp(`http response cut [^\\n]*route=${route} [^\\n]*why="no byte of the response body came for 1000 ms"`));
      await until(() => upstream.open('stall-body') === 0, 3000, () => 'the upstream connection closed');
    });

    test(`an upload the upstream takes none of gets 504 after the timeout, ${how}, without waiting for the rest of it`, async () => {
      // 4 MiB from node:http to an upstream that never read a byte: the kernel's buffers take
      // much or all of it, and the rest, if any, waits in the connection's queue with the body
      // paused and empty (the fuzzer's upstream class found that state unanswered; this test
      // does not reliably reach it, the fuzzer does). 64 MiB from curl: most of it waits for
      // the client.
      const file = `${dir.path}/upload.bin`;
      writeFileSync(file, Buffer.alloc(64 * MIB, 0x62));
      for (const size of [4 * MIB, 64 * MIB]) {
        // All of it may have gone into the kernel's buffers: then the head is what is late.
        const why = new RegExp(`http upstream failed [^\\n]*route=${route}s? [^\\n]*status=504 why="(the upstream took no byte of the request body for 1000 ms \\(\\d+ bytes of it went out\\)|no response head within 1000 ms)`, 'g');
        const before = (hub.log().match(why) ?? []).length;
        // The 4 MiB go to an upstream that never read a byte: its socket's buffers never grew.
        const result = size === 4 * MIB ? await nodePost(`${url}${route}s/x`, size) : await curl(`${url}${route}/no-read`, ['--data-binary', `@${file}`, '-H', 'Expect:']);
        assert.equal(result.status, '504', `${size} bytes: ${JSON.stringify(result)}`);
        assert.ok(result.seconds < 3 * TIMEOUT_S + 1, `${size} bytes: answered after ${result.seconds} s`);
        await hub.waitForQuiet();
        assert.equal((hub.log().match(why) ?? []).length, before + 1, `${size} bytes: ${hub.log()}`);
        upstream.readAgain('no-read');
        await until(() => upstream.open('no-read') === 0, 3000, () => 'the upstream connection closed');
      }
    });
  }

  test('a body the upstream sends a byte at a time, never a second apart, arrives whole', async () => {
    const result = await curl(`${url}/r/trickle`);
    assert.deepEqual([result.code, result.status, result.size], [0, '200', 12], JSON.stringify(result));
    assert.ok(result.seconds > 4, `took ${result.seconds} s`);
  });

  test('a client that stops reading for three timeouts gets the whole body: its time is not the upstream\'s', async () => {
    const { answer, closed } = await rawExchange(hub.port, 'GET /r/big HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n', 3000 * TIMEOUT_S);
    const headEnd = answer.indexOf('\r\n\r\n');
    assert.ok(closed, 'the server ended the connection');
    assert.match(answer.subarray(0, headEnd).toString('latin1'), /^HTTP\/1\.1 200 /);
    assert.equal(answer.length - headEnd - 4, 8 * MIB);
  });

  test('an upload that stops for three timeouts, then goes on, is the client\'s time: the upstream gets all of it', async () => {
    const socket = connect(hub.port, '127.0.0.1');
    await once(socket, 'connect');
    let reply = '';
    socket.on('data', (chunk: Buffer) => (reply += chunk.toString('latin1')));
    socket.write(`POST /r/count-upload HTTP/1.1\r\nHost: x\r\nContent-Length: ${2 * MIB}\r\nConnection: close\r\n\r\n`);
    socket.write(Buffer.alloc(MIB, 0x63));
    await new Promise((resolve) => setTimeout(resolve, 3000 * TIMEOUT_S));
    // Not end(): uWS, like nginx, takes a client's half-close for its going away.
    socket.write(Buffer.alloc(MIB, 0x63));
    await once(socket, 'close');
    assert.match(reply, new RegExp(`^HTTP/1\\.1 200 [^]*\\r\\n\\r\\n${2 * MIB}$`));
  });

  test('a websocket route whose upstream trickles its 101, never a second silent, answers 504 at the timeout', async () => {
    const started = Date.now();
    const ws = new WebSocket(`ws://127.0.0.1:${hub.port}/ws/slow-upgrade`);
    const status = await new Promise<number | string>((resolve) => {
      const timer = setTimeout(() => resolve('no answer in 10 s'), 10_000);
      ws.once('unexpected-response', (_request, response) => {
        clearTimeout(timer);
        resolve(response.statusCode ?? 0);
      });
      ws.once('open', () => {
        clearTimeout(timer);
        resolve('opened');
      });
      ws.once('error', (error) => {
        clearTimeout(timer);
        resolve(error.message);
      });
    });
    ws.terminate();
    const seconds = (Date.now() - started) / 1000;
    assert.equal(status, 504);
    assert.ok(seconds >= TIMEOUT_S * 0.9 && seconds < 3, `answered after ${seconds} s, where the upstream's 101 takes 4.4 s`);
  });

  test('an upstream that ends in the middle of its body: the log says so, not that the client went away', async () => {
    const result = await curl(`${url}/r/cut-body`);
    assert.deepEqual([result.code, result.size], [18, 10], JSON.stringify(result));
    await hub.waitForLog(/http response cut [^\n]*path=\/r\/cut-body[^\n]*why="the upstream closed the connection in the middle of the response"/);
  });
});
