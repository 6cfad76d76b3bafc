/*
 * What uWebSockets.js itself does with input websocksy never gets to see (docs/engine.md), on each
 * engine release websocksy runs on: each case is that engine's behaviour as measured, so that a
 * change of engine shows up here,
 * and each is followed by a neighbour connection that must still echo — whatever the engine
 * does with one bad connection, it costs nothing else.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { get as httpGet } from 'node:http';
import { connect as netConnect, type Socket } from 'node:net';
import { after, before, describe, test } from 'node:test';
import type { us_listen_socket } from 'uWebSockets.js';
import { engine } from '../src/front/engine.js';
import { connect, type TestClient } from './helpers/client.js';
import { tcpEcho, type Peer } from './helpers/peers.js';
import { startWebsocksy, type RunningWebsocksy } from './helpers/websocksy.js';

/** A client frame: FIN set, masked unless told otherwise. */
function frame(opcode: number, payload: Buffer, masked = true): Buffer {
  const header = Buffer.from([0x80 | opcode, (masked ? 0x80 : 0) | payload.length]);
  if (!masked) return Buffer.concat([header, payload]);
  const key = randomBytes(4);
  const body = Buffer.from(payload);
  for (let i = 0; i < body.length; i++) body[i] = (body[i] as number) ^ (key[i & 3] as number);
  return Buffer.concat([header, key, body]);
}

function closePayload(code: number): Buffer {
  const payload = Buffer.alloc(2);
  payload.writeUInt16BE(code);
  return payload;
}

interface Exchange {
  /** Bytes after the 101's headers (for upgrades) or the whole answer. */
  readonly reply: Buffer;
  /** The server closed the connection within the wait. */
  readonly closed: boolean;
}

/** Writes `head`, then (after a 101) `frames`; collects what comes back for up to `waitMs`. */
function exchange(port: number, head: string | Buffer, frames: Buffer[] = [], waitMs = 1000): Promise<Exchange> {
  return new Promise((resolve) => {
    const socket: Socket = netConnect(port, '127.0.0.1');
    let received = Buffer.alloc(0);
    let upgraded = false;
    let closed = false;
    socket.on('connect', () => socket.write(typeof head === 'string' ? Buffer.from(head, 'latin1') : head));
    socket.on('data', (chunk: Buffer) => {
      received = Buffer.concat([received, chunk]);
      const end = received.indexOf('\r\n\r\n');
      if (!upgraded && frames.length > 0 && received.subarray(0, 12).toString() === 'HTTP/1.1 101' && end >= 0) {
        upgraded = true;
        received = received.subarray(end + 4);
        socket.write(Buffer.concat(frames));
      }
    });
    socket.on('error', () => undefined);
    socket.on('close', () => {
      closed = true;
      finish();
    });
    const timer = setTimeout(finish, waitMs);
    function finish(): void {
      clearTimeout(timer);
      socket.destroy();
      resolve({ reply: received, closed });
    }
  });
}

/** The engine releases measured (docs/engine.md); a new one fails here until it is measured. */
type EngineLine = '20.30' | '20.57';
const ENGINE_LINE = ((): EngineLine => {
  const line = /^20\.\d+/.exec(engine().version)?.[0];
  if (line === '20.30' || line === '20.57') return line;
  throw new Error(`uWS ${engine().version} has not been measured at the edge: measure it and add it to docs/engine.md and this file`);
})();

const UPGRADE = (path: string): string =>
  `GET ${path} HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: ${randomBytes(16).toString('base64')}\r\nSec-WebSocket-Version: 13\r\n\r\n`;

describe(`uWebSockets.js ${ENGINE_LINE} at the edge (docs/engine.md)`, () => {
  let echo: Peer;
  let server: RunningWebsocksy;
  let neighbour: TestClient;

  before(async () => {
    echo = await tcpEcho();
    server = await startWebsocksy(['-l', '127.0.0.1', '-p', '0', '-k', '0', '-c', `host=${echo.address}`]);
    neighbour = await connect(server.url);
  });

  after(async () => {
    neighbour.ws.terminate();
    await server.stop();
    await echo.close();
  });

  async function neighbourEchoes(): Promise<void> {
    neighbour.ws.send('alive');
    assert.equal((await neighbour.next()).data.toString(), 'alive');
  }

  describe('frames', () => {
    test('an unmasked client frame is neither delivered nor refused: the connection just hangs (RFC 6455 says close)', async () => {
      const { reply, closed } = await exchange(server.port, UPGRADE('/'), [frame(1, Buffer.from('hi'), false)]);
      assert.ok(!closed);
      assert.equal(reply.length, 0, 'nothing reached the echo peer and came back');
      await neighbourEchoes();
    });

    test('a close frame with a code no one may send: answered with an empty close frame, not 1002', async () => {
      for (const code of [1005, 999, 1015]) {
        const { reply } = await exchange(server.port, UPGRADE('/'), [frame(8, closePayload(code))]);
        assert.deepEqual([...reply], [0x88, 0x00], `code ${code}`);
      }
      await neighbourEchoes();
    });

    test('invalid UTF-8 in a text message: dropped without 1007', async () => {
      const { reply, closed } = await exchange(server.port, UPGRADE('/'), [frame(1, Buffer.from([0xc3, 0x28]))]);
      assert.ok(closed);
      assert.equal(reply.length, 0);
      await neighbourEchoes();
    });
  });

  describe('bad requests: what each engine answers (websocksy never sees them)', () => {
    // held: no answer, the connection stays open (uWS closes it about 10 s later);
    // closed: closed at once without an answer; a number: that status, then closed.
    type Outcome = 'held' | 'closed' | number;
    const cases: ReadonlyArray<readonly [string, string, Readonly<Record<EngineLine, Outcome>>]> = [
      ['HTTP/1.0', 'GET / HTTP/1.0\r\nHost: x\r\n\r\n', { '20.30': 'held', '20.57': 505 }],
      ['an absolute-form target', 'GET http://x/ HTTP/1.1\r\nHost: x\r\n\r\n', { '20.30': 'held', '20.57': 505 }],
      ['a missing Host', 'GET / HTTP/1.1\r\n\r\n', { '20.30': 'held', '20.57': 400 }],
      // 20.57 reads more than 48 lines: the request reaches websocksy, whose bridge wants an upgrade.
      ['more than 48 headers', `GET / HTTP/1.1\r\nHost: x\r\n${Array.from({ length: 60 }, (_, i) => `X-H${i}: v\r\n`).join('')}\r\n`, { '20.30': 'held', '20.57': 426 }],
      ['a space before a colon', 'POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding : chunked\r\n\r\n0\r\n\r\n', { '20.30': 'held', '20.57': 400 }],
      ['a header name with a space', 'GET / HTTP/1.1\r\nHost: x\r\nBad Name: 1\r\n\r\n', { '20.30': 'held', '20.57': 400 }],
      ['a control byte in the path', 'GET /a\x01b HTTP/1.1\r\nHost: x\r\n\r\n', { '20.30': 'held', '20.57': 505 }],
      ['a control byte in a header value', 'GET / HTTP/1.1\r\nHost: x\r\nX-A: a\x01b\r\n\r\n', { '20.30': 'held', '20.57': 400 }],
      // 20.57 takes methods in any case: websocksy's bridge answers it.
      ['a lower-case method', 'get / HTTP/1.1\r\nHost: x\r\n\r\n', { '20.30': 'closed', '20.57': 426 }],
      ['Transfer-Encoding beside Content-Length', 'POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n0\r\n\r\n', { '20.30': 'closed', '20.57': 400 }],
    ];
    for (const [name, head, outcomes] of cases) {
      const expected = outcomes[ENGINE_LINE];
      test(`${name}: ${typeof expected === 'number' ? `answered ${expected}` : expected}`, async () => {
        const { reply, closed } = await exchange(server.port, head, [], expected === 'held' ? 500 : 2000);
        if (typeof expected === 'number') {
          assert.match(reply.toString('latin1'), new RegExp(`^HTTP/1\\.1 ${expected} `));
        } else {
          assert.equal(reply.length, 0);
          assert.equal(closed, expected === 'closed');
        }
        await neighbourEchoes();
      });
    }
  });

  test('a request pipelined behind a refused one is still parsed and served (Connection: close is not honoured)', async () => {
    const { reply } = await exchange(server.port, 'GET /a HTTP/1.1\r\nHost: x\r\nX-Bad: \x7f\r\n\r\nGET /b HTTP/1.1\r\nHost: x\r\n\r\n', [], 500);
    const text = reply.toString('latin1');
    assert.match(text, /^HTTP\/1\.1 400 [^]*Connection: close[^]*HTTP\/1\.1 426 /);
    await neighbourEchoes();
  });

  test('header values lose their leading and trailing bytes above 0x7f', async () => {
    const { reply } = await exchange(
      server.port,
      Buffer.concat([Buffer.from('GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: '), Buffer.from([0xe9]), Buffer.from(`${randomBytes(16).toString('base64')}\r\n\r\n`)]),
      [],
      500,
    );
    // The key arrives without its leading é and is valid: uWS trimmed it.
    assert.match(reply.toString('latin1'), /^HTTP\/1\.1 101 /);
    await neighbourEchoes();
  });
});

describe('what the engine offers for backpressure', () => {
  // The bridge closes a client with 1013 when its peer's queue passes peer-buffer, because uWS
  // cannot stop reading one WebSocket (DESIGN.md). No build in reach has ws.pause(): when one
  // does, this fails, and the bridge should pause the client instead (docs/engine.md).
  test('a WebSocket cannot be paused, an HTTP response can', async () => {
    const { uws } = engine();
    const seen = await new Promise<{ wsPause: string; resPause: string }>((resolve, reject) => {
      let resPause = '';
      const app = uws
        .App()
        .get('/res', (res) => {
          resPause = typeof (res as unknown as Record<string, unknown>)['pause'];
          res.end('ok');
        })
        .ws('/ws', {
          open: (ws) => {
            const wsPause = typeof (ws as unknown as Record<string, unknown>)['pause'];
            ws.end(1000);
            uws.us_listen_socket_close(listenSocket);
            resolve({ wsPause, resPause });
          },
        });
      let listenSocket: us_listen_socket;
      app.listen('127.0.0.1', 0, (socket) => {
        if (socket === false) return reject(new Error('listen failed'));
        listenSocket = socket;
        const port = uws.us_socket_local_port(socket);
        // Without keep-alive: a connection pooled by fetch would keep this process alive (and the
        // file running) for the pool's idle timeout after the last test.
        new Promise<void>((done, fail) => {
          const request = httpGet({ host: '127.0.0.1', port, path: '/res', agent: false }, (response) => response.resume().on('end', done));
          request.on('error', fail);
        })
          .then(async () => connect(`ws://127.0.0.1:${port}/ws`))
          .catch(reject);
      });
    });
    assert.equal(seen.wsPause, 'undefined', `uWS ${engine().version} has ws.pause(): use it in the bridge instead of closing at peer-buffer`);
    assert.equal(seen.resPause, 'function');
  });
});
