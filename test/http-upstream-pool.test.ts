/*
 * The keep-alive pool of direct http:// routes (src/http/h1-pool.ts, h1-connection.ts) against
 * raw TCP upstreams scripted byte by byte: connections reused across requests, a kept-alive
 * connection the upstream closes as a request goes out, or answers with a 408 (sent again when
 * that is safe, a 502 or the 408 when not), the upstream's Keep-Alive timeout honoured
 * (whatever the sweep's phase), a connection that closes while idle, and upstream heads that
 * must never reach a client (a 502, and the connection dropped). And the hostile upstream's
 * desyncs, each once reproduced: a length beside a transfer coding framing the client's body, a
 * 2xx to CONNECT turning a pooled connection into a tunnel, a 204, a HEAD's answer or a chunked
 * 304 whose late body met the next request, an early answer that left the client's upload
 * paused, a body broken before its held head went out.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createHash } from 'node:crypto';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { writeFileSync } from 'node:fs';
import { send } from './helpers/http-upstream.js';
import { sendAllThenRead } from './helpers/http.js';
import { tempDir } from './helpers/peers.js';
import { until } from './helpers/session-client.js';
import { startWebsocksy, type RunningWebsocksy } from './helpers/websocksy.js';

/** What the upstream does with the `index`-th request (from 0) on connection `connection` (from 0). */
type Script = (socket: Socket, request: string, index: number, connection: number) => void;

interface ScriptedUpstream {
  readonly port: number;
  /** Connections accepted so far. */
  connections: number;
  /** Connections the pool closed (the upstream saw their end). */
  ended: number;
  script: Script;
  close(): Promise<void>;
}

async function scriptedUpstream(): Promise<ScriptedUpstream> {
  const sockets = new Set<Socket>();
  const upstream: ScriptedUpstream = {
    port: 0,
    connections: 0,
    ended: 0,
    script: () => undefined,
    close: async () => {
      for (const socket of sockets) socket.destroy();
      server.close();
      await once(server, 'close');
    },
  };
  const server: Server = createServer((socket) => {
    sockets.add(socket);
    const connection = upstream.connections++;
    let index = 0;
    let pending = '';
    socket.on('error', () => undefined);
    socket.on('end', () => {
      upstream.ended++;
      socket.end();
    });
    socket.on('close', () => sockets.delete(socket));
    socket.on('data', (chunk: Buffer) => {
      pending += chunk.toString('latin1');
      for (let end = pending.indexOf('\r\n\r\n'); end >= 0; end = pending.indexOf('\r\n\r\n')) {
        const request = pending.slice(0, end);
        pending = pending.slice(end + 4);
        upstream.script(socket, request, index++, connection);
      }
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return Object.assign(upstream, { port: (server.address() as { port: number }).port });
}

const ok = (body: string, extra = ''): string => `HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n${extra}Content-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`;

/** One response's head and body, decoded from the bytes a raw client read, and whatever came after it. */
interface FramedReply {
  readonly head: string;
  readonly body: string;
  /** Bytes after the response's own framing: a client on a kept-alive connection reads them as its next answer. */
  readonly after: string;
}

/** Decodes the first response of `wire` by its own framing (Content-Length, chunked, or up to the close). */
function firstResponse(wire: string): FramedReply {
  const headEnd = wire.indexOf('\r\n\r\n');
  assert.ok(headEnd > 0, `no response head in ${JSON.stringify(wire)}`);
  const head = wire.slice(0, headEnd);
  const rest = wire.slice(headEnd + 4);
  const length = /\r\ncontent-length: *(\d+)/i.exec(head);
  if (length !== null) return { head, body: rest.slice(0, Number(length[1])), after: rest.slice(Number(length[1])) };
  if (!/\r\ntransfer-encoding: chunked/i.test(head)) return { head, body: rest, after: '' };
  let body = '';
  let at = 0;
  for (;;) {
    const lineEnd = rest.indexOf('\r\n', at);
    assert.ok(lineEnd >= 0, `a chunked body cut short: ${JSON.stringify(rest)}`);
    const size = parseInt(rest.slice(at, lineEnd), 16);
    // A size line that is no number would have the loop read the same line again, without end.
    assert.ok(Number.isInteger(size) && size >= 0, `a chunk size that is no number: ${JSON.stringify(rest.slice(at, lineEnd))}`);
    if (size === 0) return { head, body, after: rest.slice(lineEnd + 4) };
    body += rest.slice(lineEnd + 2, lineEnd + 2 + size);
    at = lineEnd + 2 + size + 2;
  }
}

/** Sends `request` on a new connection and reads until the connection closes or stays quiet for `quietMs`. */
function readUntilQuiet(port: number, request: string, quietMs = 300, timeoutMs = 5000): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    let wire = '';
    const finish = (): void => {
      clearTimeout(deadline);
      clearTimeout(quiet);
      socket.destroy();
      resolve(wire);
    };
    let quiet = setTimeout(finish, quietMs);
    const deadline = setTimeout(() => {
      socket.destroy();
      reject(new Error(`still talking after ${timeoutMs} ms: ${JSON.stringify(wire.slice(0, 300))}`));
    }, timeoutMs);
    socket.on('data', (chunk: Buffer) => {
      wire += chunk.toString('latin1');
      clearTimeout(quiet);
      quiet = setTimeout(finish, quietMs);
    });
    socket.on('close', finish);
    socket.on('error', (error) => {
      clearTimeout(deadline);
      clearTimeout(quiet);
      reject(error);
    });
    socket.write(request);
  });
}

describe('the keep-alive pool of http:// routes', () => {
  const dir = tempDir('websocksy-pool-');
  let upstream: ScriptedUpstream;
  let proxy: RunningWebsocksy;

  before(async () => {
    upstream = await scriptedUpstream();
    writeFileSync(`${dir.path}/pool.cfg`, ['[core]', 'listen = 127.0.0.1', 'port = 0', '[route /u]', `to = http://127.0.0.1:${upstream.port}/`, ''].join('\n'));
    proxy = await startWebsocksy([`${dir.path}/pool.cfg`]);
  });
  after(async () => {
    await proxy?.stop();
    await upstream?.close();
    dir.remove();
  });

  test('one upstream connection carries requests one after another, each answer its own', async () => {
    const before = upstream.connections;
    upstream.script = (socket, request, index) => socket.write(ok(`answer ${index} to ${request.split(' ')[1]}`));
    for (let i = 0; i < 50; i++) {
      const reply = await send(proxy.port, `/u/n${i}`);
      assert.deepEqual([reply.status, reply.text], [200, `answer ${i} to /n${i}`]);
    }
    assert.equal(upstream.connections - before, 1);
  });

  test('a kept-alive connection closed as a request goes out: a GET goes again, a POST gets 502', async () => {
    // Each connection answers its first request and closes without a word at its second, as
    // an upstream whose idle timeout crosses our reuse does.
    upstream.script = (socket, _request, index) => {
      if (index === 0) socket.write(ok('first'));
      else socket.destroy();
    };
    const warm = await send(proxy.port, '/u/warm');
    assert.equal(warm.text, 'first');
    const again = await send(proxy.port, '/u/again');
    assert.deepEqual([again.status, again.text], [200, 'first']);
    const post = await send(proxy.port, '/u/post', { method: 'POST', body: 'not twice' });
    assert.equal(post.status, 502);
    // A close with the body unread may reach us as a reset.
    await proxy.waitForLog(/http upstream failed .*method=POST .*status=502 why="(the upstream closed the connection before its answer|read ECONNRESET)"/);
  });

  test('a 408 on a reused connection, the upstream timing it out as a request goes out: a GET goes again, a POST and a fresh connection\'s 408 reach the client', async () => {
    // Some servers answer an idle timeout with a 408 and a close rather than a close alone;
    // the request was never taken, and a GET may go again (RFC 9110 §15.5.9). It was relayed.
    const timeout = 'HTTP/1.1 408 Request Timeout\r\nConnection: close\r\nContent-Length: 0\r\n\r\n';
    upstream.script = (socket, _request, index) => {
      if (index === 0) socket.write(ok('first'));
      else socket.end(timeout);
    };
    const before = upstream.connections;
    assert.equal((await send(proxy.port, '/u/warm-408')).text, 'first');
    const again = await send(proxy.port, '/u/again-408');
    assert.deepEqual([again.status, again.text], [200, 'first']);
    assert.equal(upstream.connections - before, 2, 'the GET went again on a new connection');
    const post = await send(proxy.port, '/u/post-408', { method: 'POST', body: 'not twice' });
    assert.equal(post.status, 408);
    // A new connection's 408 is the upstream's answer: it is not asked again.
    upstream.script = (socket) => socket.end(timeout);
    const fresh = await send(proxy.port, '/u/fresh-408');
    assert.equal(fresh.status, 408);
  });

  test('a 304 that names a transfer coding closes its connection: a last chunk sent after it never reaches the next client', async () => {
    upstream.script = (socket, request) => {
      if (request.startsWith('GET /not-modified')) {
        socket.write('HTTP/1.1 304 Not Modified\r\nETag: "v1"\r\nTransfer-Encoding: chunked\r\n\r\n');
        setTimeout(() => socket.write('0\r\n\r\n'), 300);
      } else setTimeout(() => socket.write(ok('its own answer')), 500);
    };
    const notModified = await send(proxy.port, '/u/not-modified', { headers: { 'if-none-match': '"v1"' } });
    assert.equal(notModified.status, 304);
    const next = await send(proxy.port, '/u/next-after-304');
    assert.deepEqual([next.status, next.text], [200, 'its own answer']);
  });

  test('the upstream\'s Keep-Alive timeout is honoured: an idle connection closes before it', async () => {
    upstream.script = (socket) => socket.write(ok('hinted', 'Keep-Alive: timeout=2\r\n'));
    const ended = upstream.ended;
    const started = Date.now();
    assert.equal((await send(proxy.port, '/u/hint')).text, 'hinted');
    await until(() => upstream.ended > ended, 5000, () => 'the pool closing its idle connection');
    assert.ok(Date.now() - started < 2000 + 1500, `closed after ${Date.now() - started} ms`);
  });

  test('an idle connection past the upstream\'s Keep-Alive timeout less a second is never reused, whenever the sweep runs', async () => {
    // The sweep runs once a second from the first release, so a connection released between two
    // sweeps stayed up to a second past its limit, and a request then could cross the upstream's
    // close: a POST gets 502 for that. Here the limit is 2 s (timeout=3), the connection is
    // released at half a second into the sweep's phase, and the third request comes 2.3 s later.
    upstream.script = (socket) => socket.write(ok('hinted', 'Keep-Alive: timeout=3\r\n'));
    const first = upstream.connections;
    assert.equal((await send(proxy.port, '/u/phase')).text, 'hinted');
    await new Promise((resolve) => setTimeout(resolve, 500));
    assert.equal((await send(proxy.port, '/u/released-mid-phase')).text, 'hinted');
    assert.equal(upstream.connections - first, 1, 'the second request reused the connection');
    await new Promise((resolve) => setTimeout(resolve, 2300));
    // Closed after it, so that no connection of this test is left for the next one.
    upstream.script = (socket) => socket.write(ok('hinted', 'Connection: close\r\n'));
    assert.equal((await send(proxy.port, '/u/past-the-limit')).text, 'hinted');
    assert.equal(upstream.connections - first, 2, 'the third request went on a new connection');
  });

  test('a connection the upstream closes while idle is forgotten: the next request opens another', async () => {
    upstream.script = (socket) => socket.end(ok('and goodbye'));
    const before = upstream.connections;
    const ended = upstream.ended;
    for (let i = 0; i < 3; i++) {
      assert.equal((await send(proxy.port, '/u/bye')).text, 'and goodbye');
      await until(() => upstream.ended > ended + i, 2000, () => 'the upstream seeing the pool close');
    }
    assert.equal(upstream.connections - before, 3);
  });

  test('a head that would reach the client as something else is a 502, and its connection is not used again', async () => {
    const cases: Array<[string, string]> = [
      ['header injection', 'HTTP/1.1 200 OK\r\nX-A: a\nSet-Cookie: stolen=1\r\nContent-Length: 0\r\n\r\n'],
      ['two lengths', 'HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab'],
      ['not HTTP/1.1', 'SSH-2.0-OpenSSH_9.2\r\n\r\n'],
    ];
    for (const [what, answer] of cases) {
      upstream.script = (socket) => socket.write(answer);
      const before = upstream.ended;
      const reply = await send(proxy.port, '/u/bad');
      assert.equal(reply.status, 502, what);
      assert.equal(reply.rawHeaders.map((name) => name.toLowerCase()).includes('set-cookie'), false, what);
      await until(() => upstream.ended > before, 2000, () => `the pool dropping the connection after ${what}`);
    }
    await proxy.waitForLog(/http upstream failed .*status=502 why="the upstream broke HTTP\/1\.1: a control character, or a bare CR or LF/);
  });

  test('a Content-Length beside Transfer-Encoding is not the body\'s length: the client gets the decoded body, and not a byte past its framing', async () => {
    // RFC 9112 §6.3: the transfer coding overrides the length, which an intermediary must drop.
    // Framed by the upstream's length, the client read a body cut at 5 bytes and took the rest
    // for its next answer; or waited for 50 bytes that never came.
    const chunked = 'a\r\n0123456789\r\n0\r\n\r\n';
    const cases: Array<[string, string]> = [
      ['a shorter length first', `HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n${chunked}`],
      ['a longer length after', `HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 50\r\n\r\n${chunked}`],
    ];
    for (const [what, answer] of cases) {
      upstream.script = (socket) => socket.write(answer);
      const before = upstream.ended;
      const reply = firstResponse(await readUntilQuiet(proxy.port, 'GET /u/both HTTP/1.1\r\nHost: x\r\n\r\n'));
      assert.match(reply.head, /^HTTP\/1\.1 200 /, what);
      assert.deepEqual([reply.body, reply.after], ['0123456789', ''], what);
      // The upstream's own framing is in doubt: its connection is not used again.
      await until(() => upstream.ended > before, 2000, () => `the pool dropping the connection after ${what}`);
    }
  });

  test('CONNECT on a route gets 501: an upstream that took it for a tunnel never gets the next client\'s request', async () => {
    // A 2xx to CONNECT makes the connection a tunnel (RFC 9112 §6.3). Forwarded, the pool took a
    // "200, Content-Length: 0" for a complete answer and gave the connection to the next request,
    // which went down the upstream's tunnel to whatever it had dialled.
    const tunnels = new Set<Socket>();
    const seen: string[] = [];
    upstream.script = (socket, request) => {
      seen.push(request.split(' ')[0] as string);
      if (tunnels.has(socket)) socket.write(ok('from the far end of a tunnel'));
      else if (request.startsWith('CONNECT ')) {
        tunnels.add(socket);
        socket.write('HTTP/1.1 200 Connection established\r\nContent-Length: 0\r\n\r\n');
      } else socket.write(ok('from the upstream'));
    };
    const connectReply = firstResponse(await readUntilQuiet(proxy.port, 'CONNECT /u/x HTTP/1.1\r\nHost: x\r\n\r\n'));
    assert.match(connectReply.head, /^HTTP\/1\.1 501 /);
    const next = await send(proxy.port, '/u/after-connect');
    assert.deepEqual([next.status, next.text], [200, 'from the upstream']);
    assert.equal(seen.includes('CONNECT'), false, `the upstream saw ${seen.join(', ')}`);
    await proxy.waitForLog(/http method refused .*method=CONNECT .*status=501/);
  });

  test('a 204 that announces a body is answered, and its connection not used again: the next client never gets that body', async () => {
    // A 204 has no body (RFC 9110 §15.3.5), and no server may send it a length or a transfer
    // coding. One that does may well send the body after it: were the connection back in the
    // pool by then, the next request on it got those bytes as its answer.
    upstream.script = (socket, request) => {
      if (request.startsWith('GET /no-content')) {
        socket.write('HTTP/1.1 204 No Content\r\nContent-Length: 42\r\n\r\n');
        setTimeout(() => socket.write('HTTP/1.1 200 OK\r\nContent-Length: 16\r\n\r\nthe 204\'s "body"'), 300);
      } else setTimeout(() => socket.write(ok('its own answer')), 500);
    };
    const noContent = await send(proxy.port, '/u/no-content');
    assert.equal(noContent.status, 204);
    const next = await send(proxy.port, '/u/next-client');
    assert.deepEqual([next.status, next.text], [200, 'its own answer']);
  });

  test('an upstream that answers before it has read the upload: a client that sends all before it reads gets the answer, the rest of its body read and dropped', async () => {
    // The upstream stops reading, so the upload backs up to the client's socket, which uWS
    // pauses; then it answers. The answer went out, but the client's socket stayed paused: the
    // client, still sending, blocked until uWS's idle timeout reset the connection (10 s).
    // Each way the answer can end: by its length, without a body, chunked.
    const answers: Array<[number, string]> = [
      [401, 'HTTP/1.1 401 Unauthorized\r\nContent-Length: 4\r\n\r\nnope'],
      [204, 'HTTP/1.1 204 No Content\r\n\r\n'],
      [403, 'HTTP/1.1 403 Forbidden\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nnope\r\n0\r\n\r\n'],
    ];
    const body = Buffer.alloc(32 * 1024 * 1024, 0x61);
    const head = Buffer.from(`POST /u/early HTTP/1.1\r\nHost: x\r\nContent-Length: ${body.length}\r\n\r\n`, 'latin1');
    for (const [status, answer] of answers) {
      upstream.script = (socket, request) => {
        if (!request.startsWith('POST /early')) return;
        socket.pause();
        setTimeout(() => socket.write(answer), 300);
      };
      const reply = await sendAllThenRead(proxy.port, Buffer.concat([head, body]), 8000);
      assert.equal(reply.status, status);
    }
  });

  test('a HEAD whose answer describes a body closes its connection after it: an upstream that sends the body anyway never answers the next client with it', async () => {
    // Python's http.server with do_HEAD = do_GET, a common slip, writes the body after the head;
    // when it came in a later read than the head, the connection was back in the pool, and
    // other clients' requests got it as their answer (a third of them, in a run of 200 pairs).
    upstream.script = (socket, request) => {
      if (request.startsWith('HEAD ')) {
        socket.write('HTTP/1.1 200 OK\r\nContent-Length: 39\r\n\r\n');
        setTimeout(() => socket.write('HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n'), 300);
      } else setTimeout(() => socket.write(ok('its own answer')), 500);
    };
    const head = await send(proxy.port, '/u/page', { method: 'HEAD' });
    assert.deepEqual([head.status, head.headers['content-length']], [200, '39']);
    const next = await send(proxy.port, '/u/next-client');
    assert.deepEqual([next.status, next.text], [200, 'its own answer']);
  });

  test('a reason phrase with bytes above 0x7f reaches the client byte for byte', async () => {
    // obs-text is allowed in a reason phrase (RFC 9112 §4); it went to the client re-encoded as UTF-8.
    upstream.script = (socket) => socket.write(Buffer.concat([Buffer.from('HTTP/1.1 200 Tr'), Buffer.from([0xe8, 0x73]), Buffer.from(' bien\r\nContent-Length: 2\r\n\r\nok')]));
    const wire = await readUntilQuiet(proxy.port, 'GET /u/reason HTTP/1.1\r\nHost: x\r\n\r\n');
    assert.equal(wire.slice(0, wire.indexOf('\r\n')), 'HTTP/1.1 200 Tr\u00e8s bien');
  });

  test('a body broken in the same read as its head gets a 502, not the head of a response that is then cut', async () => {
    // The head waits for the body's first piece; a chunk-size line with a bare LF right after it
    // failed the exchange while nothing had gone out, yet the client got "HTTP/1.1 200 OK" alone
    // and a closed connection.
    upstream.script = (socket) => socket.write('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\nhello\n0\n\n');
    const reply = await send(proxy.port, '/u/broken-body');
    assert.deepEqual([reply.status, reply.text], [502, 'Bad gateway\n']);
    await proxy.waitForLog(/http upstream failed .*path=\/u\/broken-body .*status=502 why="the upstream broke HTTP\/1\.1: a chunk size that is not hex"/);
  });

  test('an upstream that ends its head lines with a bare LF and closes gets a 502 whose log line says the head never ended', async () => {
    upstream.script = (socket) => socket.end('HTTP/1.1 200 OK\nContent-Length: 2\n\nok');
    const reply = await send(proxy.port, '/u/bare-lf');
    assert.equal(reply.status, 502);
    await proxy.waitForLog(/http upstream failed .*path=\/u\/bare-lf .*status=502 why="the upstream closed the connection in the middle of its response head \(37 bytes, no CRLF CRLF ending it\)"/);
  });

  test('8 MiB to each of 4 clients that read slowly, at once, arrive whole, with a length and chunked (the pool reads into one shared buffer)', async () => {
    const body = Buffer.alloc(8 * 1024 * 1024);
    for (let i = 0; i < body.length; i++) body[i] = (i * 31 + (i >>> 11)) & 0xff;
    const digest = createHash('sha256').update(body).digest('hex');
    upstream.script = (socket, request) => {
      if (request.startsWith('GET /length')) {
        socket.write(`HTTP/1.1 200 OK\r\nContent-Length: ${body.length}\r\n\r\n`);
        socket.write(body);
        return;
      }
      socket.write('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n');
      for (let at = 0; at < body.length; at += 300_000) {
        const piece = body.subarray(at, at + 300_000);
        socket.write(`${piece.length.toString(16)}\r\n`);
        socket.write(piece);
        socket.write('\r\n');
      }
      socket.write('0\r\n\r\n');
    };
    const fetchSlowly = async (path: string): Promise<{ head: string; body: Buffer }> => {
      const client = connect(proxy.port, '127.0.0.1');
      client.write(`GET ${path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`);
      const chunks: Buffer[] = [];
      client.on('data', (chunk: Buffer) => {
        chunks.push(chunk);
        // A reader that takes a read and then looks away: uWS's buffer fills over and over,
        // while the other responses' reads go through the same shared buffer.
        client.pause();
        setTimeout(() => client.resume(), 2);
      });
      await once(client, 'end');
      const wire = Buffer.concat(chunks);
      const headEnd = wire.indexOf('\r\n\r\n');
      const head = wire.subarray(0, headEnd).toString('latin1');
      const rest = wire.subarray(headEnd + 4);
      if (!/transfer-encoding: chunked/i.test(head)) return { head, body: rest };
      const pieces: Buffer[] = [];
      for (let at = 0; at < rest.length; ) {
        const lineEnd = rest.indexOf('\r\n', at);
        const size = parseInt(rest.subarray(at, lineEnd).toString('latin1'), 16);
        if (!(size > 0)) break;
        pieces.push(rest.subarray(lineEnd + 2, lineEnd + 2 + size));
        at = lineEnd + 2 + size + 2;
      }
      return { head, body: Buffer.concat(pieces) };
    };
    const paths = ['/u/length/1', '/u/chunked/1', '/u/length/2', '/u/chunked/2'];
    const replies = await Promise.all(paths.map(fetchSlowly));
    for (const [index, reply] of replies.entries()) {
      assert.match(reply.head, /^HTTP\/1\.1 200/);
      assert.equal(reply.body.length, body.length, paths[index]);
      assert.equal(createHash('sha256').update(reply.body).digest('hex'), digest, `${paths[index] as string}: the bytes differ`);
    }
  });

  test('a body cut short by the upstream cuts the client\'s response; the next request is whole', async () => {
    upstream.script = (socket, request, index) => {
      if (request.startsWith('GET /cut')) socket.end('HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly this');
      else socket.write(ok(`whole ${index}`));
    };
    await assert.rejects(send(proxy.port, '/u/cut'), /aborted|ECONNRESET|socket hang up/);
    const next = await send(proxy.port, '/u/next');
    assert.equal(next.status, 200);
  });
});
