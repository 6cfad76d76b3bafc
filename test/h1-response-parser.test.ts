/*
 * The route pool's HTTP/1.1 response parser (src/http/h1-response-parser.ts): every framing
 * (Content-Length, chunked with extensions and trailers, to the connection's end, none),
 * interim 1xx answers, each response fed whole, byte by byte and cut at every offset, a pause
 * in the middle of a read, and the heads it must refuse rather than pass to a client.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { Fed, MAX_HEAD_BYTES, ResponseParser, UpstreamProtocolError } from '../src/http/h1-response-parser.js';

interface Parsed {
  status: number;
  reason: string;
  headers: string[];
  body: string;
  complete: boolean;
  keepAlive: boolean;
  /** Bytes left after a complete response. */
  rest: number;
}

/** Feeds `wire` in pieces cut at `cuts` (offsets); `pauseEvery` makes onBody ask to wait each time. */
function parse(wire: string, method = 'GET', cuts: number[] = [], pauseAfterBody = false): Parsed {
  const out: Parsed = { status: 0, reason: '', headers: [], body: '', complete: false, keepAlive: false, rest: 0 };
  const parser = new ResponseParser({
    onHead: (status, reason, headers) => {
      out.status = status;
      out.reason = reason;
      out.headers = headers;
    },
    onBody: (chunk) => {
      out.body += chunk.toString('latin1');
      return !pauseAfterBody;
    },
  });
  parser.start(method);
  const bytes = Buffer.from(wire, 'latin1');
  const bounds = [0, ...cuts.filter((cut) => cut > 0 && cut < bytes.length), bytes.length];
  for (let index = 0; index + 1 < bounds.length && !out.complete; index++) {
    // A fresh copy per piece, as each read is: the parser must not keep a view of it.
    let piece = Buffer.from(bytes.subarray(bounds[index], bounds[index + 1]));
    for (let rounds = 0; rounds < 10_000; rounds++) {
      const fed = parser.feed(piece, 0);
      if (fed === Fed.complete) {
        out.complete = true;
        out.keepAlive = parser.keepAlive;
        out.rest = piece.length - parser.stoppedAt;
        break;
      }
      if (fed !== Fed.paused) break;
      piece = piece.subarray(parser.stoppedAt);
      if (piece.length === 0) break;
    }
  }
  if (!out.complete && parser.closed()) {
    out.complete = true;
    out.keepAlive = parser.keepAlive;
  }
  return out;
}

/** Every way to cut `wire` in two, and byte by byte. */
function everyCut(wire: string, method = 'GET'): Parsed[] {
  const results = [parse(wire, method), parse(wire, method, [...Array(wire.length).keys()]), parse(wire, method, [], true)];
  for (let cut = 1; cut < wire.length; cut++) results.push(parse(wire, method, [cut]));
  return results;
}

function sameEverywhere(wire: string, expected: Partial<Parsed>, method = 'GET'): void {
  for (const result of everyCut(wire, method)) {
    for (const [key, value] of Object.entries(expected)) assert.deepEqual(result[key as keyof Parsed], value, `${key} of ${JSON.stringify(wire.slice(0, 60))}`);
  }
}

function refused(wire: string, pattern: RegExp, method = 'GET'): void {
  for (const cuts of [[], [...Array(wire.length).keys()]]) {
    assert.throws(() => parse(wire, method, cuts), (error: unknown) => error instanceof UpstreamProtocolError && pattern.test(error.message), JSON.stringify(wire.slice(0, 80)));
  }
}

describe('the route pool\'s response parser', () => {
  test('Content-Length: the body, the head as sent (spelling, order, repeats), keep-alive', () => {
    sameEverywhere('HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nSet-Cookie: a=1\r\nSet-Cookie: b=2\r\nContent-Length: 5\r\n\r\nhello', {
      status: 200,
      reason: 'OK',
      headers: ['Content-Type', 'text/plain', 'Set-Cookie', 'a=1', 'Set-Cookie', 'b=2', 'Content-Length', '5'],
      body: 'hello',
      complete: true,
      keepAlive: true,
      rest: 0,
    });
  });

  test('chunked, with extensions, upper-case hex and trailers; bytes after it are left over', () => {
    const wire = 'HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n5;name=value\r\nhello\r\nA\r\n0123456789\r\n0\r\nX-Trailer: yes\r\n\r\n';
    sameEverywhere(wire, { status: 200, body: 'hello0123456789', complete: true, keepAlive: true, rest: 0 });
    assert.equal(parse(`${wire}HTTP/1.1 200 OK\r\n`).rest, 17);
  });

  test('no length: the body runs to the connection\'s end, which is not kept', () => {
    sameEverywhere('HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nuntil the end', { body: 'until the end', complete: true, keepAlive: false });
  });

  test('no body: HEAD, 204, 304, and Content-Length: 0', () => {
    // A HEAD's answer that describes a body may be followed by it: its connection is not trusted again.
    sameEverywhere('HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n', { status: 200, body: '', complete: true, keepAlive: false }, 'HEAD');
    sameEverywhere('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n', { status: 200, body: '', complete: true, keepAlive: false }, 'HEAD');
    sameEverywhere('HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n', { status: 200, body: '', complete: true, keepAlive: true }, 'HEAD');
    sameEverywhere('HTTP/1.1 204 No Content\r\n\r\n', { status: 204, body: '', complete: true, keepAlive: true });
    sameEverywhere('HTTP/1.1 204 No Content\r\nContent-Length: 0\r\n\r\n', { status: 204, body: '', complete: true, keepAlive: true });
    // A 204 that announces a body may send one later: its connection is not trusted again.
    sameEverywhere('HTTP/1.1 204 No Content\r\nContent-Length: 5\r\n\r\n', { status: 204, body: '', complete: true, keepAlive: false });
    sameEverywhere('HTTP/1.1 204 No Content\r\nTransfer-Encoding: chunked\r\n\r\n', { status: 204, body: '', complete: true, keepAlive: false });
    sameEverywhere('HTTP/1.1 304 Not Modified\r\nETag: "x"\r\n\r\n', { status: 304, body: '', complete: true, keepAlive: true });
    sameEverywhere('HTTP/1.1 304 Not Modified\r\nETag: "x"\r\nContent-Length: 1234\r\n\r\n', { status: 304, body: '', complete: true, keepAlive: true });
    // A 304 that names a transfer coding may be followed by its last chunk: not trusted again.
    sameEverywhere('HTTP/1.1 304 Not Modified\r\nTransfer-Encoding: chunked\r\n\r\n', { status: 304, body: '', complete: true, keepAlive: false });
    sameEverywhere('HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n', { status: 200, body: '', complete: true, keepAlive: true });
  });

  test('1xx answers are skipped; the final one is reported', () => {
    sameEverywhere('HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </a.css>\r\n\r\nHTTP/1.1 201 Created\r\nContent-Length: 2\r\n\r\nok', {
      status: 201,
      headers: ['Content-Length', '2'],
      body: 'ok',
      complete: true,
    });
  });

  test('keep-alive: Connection: close, HTTP/1.0, a length beside a transfer coding; the Keep-Alive hint', () => {
    assert.equal(parse('HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 1\r\n\r\nx').keepAlive, false);
    assert.equal(parse('HTTP/1.0 200 OK\r\nContent-Length: 1\r\n\r\nx').keepAlive, false);
    assert.equal(parse('HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 1\r\n\r\nx').keepAlive, true);
    const both = parse('HTTP/1.1 200 OK\r\nContent-Length: 99\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nx\r\n0\r\n\r\n');
    assert.deepEqual([both.body, both.complete, both.keepAlive], ['x', true, false]);
    const parser = new ResponseParser({ onHead: () => undefined, onBody: () => true });
    parser.start('GET');
    parser.feed(Buffer.from('HTTP/1.1 200 OK\r\nKeep-Alive: timeout=5, max=100\r\nContent-Length: 0\r\n\r\n'), 0);
    assert.equal(parser.keepAliveHintMs, 5000);
  });

  test('OWS around values is not part of them; an empty value is one', () => {
    sameEverywhere('HTTP/1.1 200 OK\r\nX-A: \t spaced \t\r\nX-B:\r\nContent-Length: 0\r\n\r\n', { headers: ['X-A', 'spaced', 'X-B', '', 'Content-Length', '0'] });
  });

  test('heads that could reach a client as something the upstream did not say are refused', () => {
    refused('HTTP/1.1 200 OK\r\nX-A: a\nInjected: yes\r\nContent-Length: 0\r\n\r\n', /bare CR or LF/);
    refused('HTTP/1.1 200 OK\r\nX-A: a\rInjected: yes\r\nContent-Length: 0\r\n\r\n', /bare CR or LF/);
    refused('HTTP/1.1 200 OK\r\nContent-Length: 0\r\nX-A: a\r\r\n\r\n', /bare CR or LF/);
    refused('HTTP/1.1 200 OK\r\nContent-Length: 0\r\nX-A: a\n\r\n\r\n', /bare CR or LF/);
    refused('HTTP/1.1 200 OK\rX\r\nContent-Length: 0\r\n\r\n', /bare CR or LF/);
    refused('HTTP/1.1 200 OK\nX-A: a\r\nContent-Length: 0\r\n\r\n', /bare CR or LF/);
    refused('HTTP/1.1 200 OK\r\nX-A: a\x00b\r\nContent-Length: 0\r\n\r\n', /control character/);
    // Every control character but HTAB, CR and LF, and DEL, at each place in a group of four bytes.
    for (const control of ['\x01', '\x08', '\x0b', '\x0c', '\x0e', '\x1f', '\x7f']) {
      for (const pad of ['', 'x', 'xx', 'xxx']) refused(`HTTP/1.1 200 OK\r\nContent-Length: 0\r\nX-A: ${pad}${control}\r\n\r\n`, /control character/);
    }
    refused('HTTP/1.1 200 \x01K\r\nContent-Length: 0\r\n\r\n', /control character/);
    refused('HTTP/1.1 200 OK\r\nX-A: a\r\n folded\r\nContent-Length: 0\r\n\r\n', /folded/);
    refused('HTTP/1.1 200 OK\r\nBad Name: a\r\nContent-Length: 0\r\n\r\n', /header line/);
    refused('HTTP/1.1 200 OK\r\nno colon here\r\nContent-Length: 0\r\n\r\n', /header line/);
    refused('HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello', /Content-Length/);
    refused('HTTP/1.1 200 OK\r\nContent-Length: 5, 6\r\n\r\nhello', /Content-Length/);
    refused('HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 5, 6\r\n\r\nhello', /Content-Length/);
    refused('HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n', /Content-Length/);
    refused('HTTP/2 200 OK\r\nContent-Length: 0\r\n\r\n', /status line/);
    refused('HTTP/1.1 20 OK\r\nContent-Length: 0\r\n\r\n', /status line/);
    refused('HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n', /101/);
    refused('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n', /not hex/);
    refused('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n\r\n', /without a size/);
    refused('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabcd\r\n0\r\n\r\n', /longer than its size/);
    refused('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nFFFFFFFFFFFFFF\r\n', /too large/);
  });

  test('identical repeated Content-Lengths are one', () => {
    sameEverywhere('HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 2, 2\r\n\r\nok', { body: 'ok', complete: true });
  });

  test('a head or trailers past 64 KiB are refused, fed whole or in pieces', () => {
    const big = `HTTP/1.1 200 OK\r\nX-Big: ${'a'.repeat(MAX_HEAD_BYTES)}\r\nContent-Length: 0\r\n\r\n`;
    assert.throws(() => parse(big), /over 65536 bytes/);
    assert.throws(() => parse(big, 'GET', [100, 30_000, 60_000]), /over 65536 bytes/);
    const trailers = `HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nX-Big: ${'a'.repeat(MAX_HEAD_BYTES)}\r\n\r\n`;
    assert.throws(() => parse(trailers), /trailers over 65536 bytes/);
  });

  test('2 000 mutated responses: the same outcome fed whole or cut anywhere, only protocol errors thrown, nothing unsafe passed on', () => {
    const seed = Number(process.env['PARSER_FUZZ_SEED'] ?? Date.now() % 2 ** 31);
    let state = seed;
    const random = (below: number): number => {
      state = (state * 1103515245 + 12345) % 2 ** 31;
      return state % below;
    };
    const seeds = [
      'HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 5\r\n\r\nhello',
      'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5;x=y\r\nhello\r\n0\r\nT: 1\r\n\r\n',
      'HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 204 No Content\r\nX: y\r\n\r\n',
      'HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 2\r\n\r\nok',
    ];
    const alphabet = ['\r', '\n', '\r\n', ':', ' ', '\t', '\x00', '\x7f', '0', 'f', ';', ',', 'chunked', 'Content-Length: 3\r\n', 'Transfer-Encoding: chunked\r\n', '\xff', 'HTTP/1.1 '];
    const outcome = (wire: string, cuts: number[]): string => {
      try {
        const parsed = parse(wire, 'GET', cuts);
        for (const field of [parsed.reason, ...parsed.headers]) assert.doesNotMatch(field, /[\x00-\x08\x0a-\x1f\x7f]/, `seed ${seed}: ${JSON.stringify(wire)}`);
        // What follows a complete response is measured within the read it ended in: not compared.
        return JSON.stringify({ ...parsed, rest: undefined });
      } catch (error) {
        if (!(error instanceof UpstreamProtocolError)) throw new Error(`seed ${seed}: ${JSON.stringify(wire)} threw ${String(error)}`);
        return `refused: ${error.message}`;
      }
    };
    for (let round = 0; round < 2000; round++) {
      let wire = seeds[random(seeds.length)] as string;
      for (let edits = 1 + random(4); edits > 0; edits--) {
        const at = random(wire.length + 1);
        const kind = random(3);
        const piece = alphabet[random(alphabet.length)] as string;
        wire = kind === 0 ? wire.slice(0, at) + piece + wire.slice(at) : kind === 1 ? wire.slice(0, at) + wire.slice(at + 1 + random(3)) : wire.slice(0, at) + piece + wire.slice(at + piece.length);
      }
      const whole = outcome(wire, []);
      const cut = random(wire.length + 1);
      assert.equal(outcome(wire, [cut]), whole, `seed ${seed}: cut at ${cut} of ${JSON.stringify(wire)}`);
      assert.equal(outcome(wire, [...Array(wire.length).keys()]), whole, `seed ${seed}: byte by byte ${JSON.stringify(wire)}`);
    }
  });

  test('a body cut by the connection\'s end is not complete', () => {
    const cut = parse('HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nhello');
    assert.deepEqual([cut.body, cut.complete], ['hello', false]);
  });
});
