/*
 * Static folders served like a web server: hidden dotfiles (except .well-known), the trailing
 * slash redirect, ETag / Last-Modified with If-None-Match and If-Modified-Since, one byte
 * range with If-Range, Cache-Control from the route's max-age, HEAD answering what GET would,
 * and no way out of the folder. The grammars are checked on their own first, then every
 * behaviour with real requests to a running websocksy, and the main ones again with curl.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdirSync, readdirSync, readlinkSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { Agent, request } from 'node:http';
import { after, before, describe, test } from 'node:test';
import { rangeAnswer } from '../src/http/byte-range.js';
import { entityTags, notModified, rangeStillValid, validatorsOf } from '../src/http/conditional.js';
import { formatHttpDate, parseHttpDate } from '../src/http/http-date.js';
import { hidden, staticNames } from '../src/http/static-path.js';
import { curl, SKIP_WITHOUT_CURL } from './helpers/curl.js';
import { rawRequest } from './helpers/http.js';
import { tempDir } from './helpers/peers.js';
import { startWebsocksy, type RunningWebsocksy } from './helpers/websocksy.js';

/** 2020-01-02T03:04:05Z, the time every fixture file is given. */
const MTIME = Date.UTC(2020, 0, 2, 3, 4, 5);
const MTIME_TEXT = 'Thu, 02 Jan 2020 03:04:05 GMT';

const readlinkOrEmpty = (path: string): string => {
  try {
    return readlinkSync(path);
  } catch {
    return '';
  }
};
const sha256 = (data: Buffer): string => createHash('sha256').update(data).digest('hex');

describe('static grammars', () => {
  test('paths: decoded per segment, traversal refused, a trailing slash asks for a folder', () => {
    assert.deepEqual(staticNames('/a/b.txt'), { kind: 'names', names: ['a', 'b.txt'], folder: false });
    assert.deepEqual(staticNames('/a%20b/./c/'), { kind: 'names', names: ['a b', 'c'], folder: true });
    assert.deepEqual(staticNames(''), { kind: 'names', names: [], folder: false });
    assert.deepEqual(staticNames('/'), { kind: 'names', names: [], folder: true });
    // uWS decodes raw UTF-8 in the request line: the name is the same as its escapes.
    assert.deepEqual(staticNames('/caf\u00e9/caf%C3%A9'), { kind: 'names', names: ['caf\u00e9', 'caf\u00e9'], folder: false });
    for (const bad of ['/../x', '/a/..', '/..%2fx', '/%2e%2e/x', '/a%2fb', '/a%5cb', '/%00', '/%E0%A4%A']) assert.equal(staticNames(bad).kind, 'refused', bad);
  });

  test('hidden names: any dot name, except a top-level .well-known', () => {
    for (const names of [['.env'], ['.git', 'config'], ['a', '.hidden'], ['a', '.well-known', 'x'], ['.well-known', '.secret'], ['.well-knownx']]) assert.equal(hidden(names), true, names.join('/'));
    for (const names of [[], ['a.txt'], ['.well-known'], ['.well-known', 'security.txt'], ['a', 'b..c']]) assert.equal(hidden(names), false, names.join('/'));
  });

  test('HTTP-dates: the three forms, nothing else', () => {
    const now = Date.UTC(2026, 0, 1);
    assert.equal(parseHttpDate('Sun, 06 Nov 1994 08:49:37 GMT'), Date.UTC(1994, 10, 6, 8, 49, 37));
    assert.equal(parseHttpDate('Sunday, 06-Nov-94 08:49:37 GMT', now), Date.UTC(1994, 10, 6, 8, 49, 37));
    assert.equal(parseHttpDate('Sunday, 06-Nov-44 08:49:37 GMT', now), Date.UTC(2044, 10, 6, 8, 49, 37));
    assert.equal(parseHttpDate('Sunday, 06-Nov-77 08:49:37 GMT', now), Date.UTC(1977, 10, 6, 8, 49, 37));
    assert.equal(parseHttpDate('Sun Nov  6 08:49:37 1994'), Date.UTC(1994, 10, 6, 8, 49, 37));
    assert.equal(parseHttpDate('Sun Nov 16 08:49:37 1994'), Date.UTC(1994, 10, 16, 8, 49, 37));
    for (const bad of ['1', '', '2020-01-02T03:04:05Z', 'Sun, 06 Nov 1994 08:49:37 UTC', 'Sun, 31 Feb 1994 08:49:37 GMT', 'Sun, 06 Nov 1994 24:00:00 GMT', 'Sun, 6 Nov 1994 08:49:37 GMT', 'sun, 06 nov 1994 08:49:37 GMT']) {
      assert.equal(parseHttpDate(bad), null, bad);
    }
    assert.equal(formatHttpDate(MTIME + 999), MTIME_TEXT);
  });

  test('byte ranges: one range is served, several or malformed ones mean the whole file', () => {
    const cases: Array<[string[], ReturnType<typeof rangeAnswer>]> = [
      [['bytes=0-99'], { kind: 'part', first: 0, last: 99 }],
      [['bytes=100-'], { kind: 'part', first: 100, last: 999 }],
      [['bytes=-10'], { kind: 'part', first: 990, last: 999 }],
      [['bytes=-5000'], { kind: 'part', first: 0, last: 999 }],
      [['bytes=990-5000'], { kind: 'part', first: 990, last: 999 }],
      [['Bytes = 0-0 ,'], { kind: 'part', first: 0, last: 0 }],
      [['bytes=1000-'], { kind: 'unsatisfiable' }],
      [['bytes=-0'], { kind: 'unsatisfiable' }],
      [[`bytes=${'9'.repeat(400)}-`], { kind: 'unsatisfiable' }],
      [[], { kind: 'whole' }],
      [['bytes=5-2'], { kind: 'whole' }],
      [['bytes=0-1,5-6'], { kind: 'whole' }],
      [['bytes=0-1', 'bytes=5-6'], { kind: 'whole' }],
      [['items=0-5'], { kind: 'whole' }],
      [['bytes=a-b'], { kind: 'whole' }],
      [['bytes=-'], { kind: 'whole' }],
      [['bytes 0-5'], { kind: 'whole' }],
    ];
    for (const [values, expected] of cases) assert.deepEqual(rangeAnswer(values, 1000), expected, values.join(' | '));
    assert.deepEqual(rangeAnswer(['bytes=0-'], 0), { kind: 'unsatisfiable' });
    assert.deepEqual(rangeAnswer(['bytes=-1'], 0), { kind: 'unsatisfiable' });
  });

  test('validators and conditions: weak If-None-Match wins over If-Modified-Since; If-Range is strong', () => {
    const validators = validatorsOf(1000n, BigInt(MTIME + 123) * 1_000_000n);
    assert.equal(validators.etag, '"3e8-' + (BigInt(MTIME + 123) * 1_000_000n).toString(16) + '"');
    assert.equal(validators.lastModified, MTIME_TEXT);
    const { etag } = validators;
    assert.deepEqual(entityTags(` "a", W/"b" ,, "c,d"`), ['"a"', 'W/"b"', '"c,d"']);
    assert.equal(entityTags('"a" junk'), null);
    assert.equal(notModified([etag], [], validators), true);
    assert.equal(notModified([`W/${etag}`], [], validators), true);
    assert.equal(notModified(['"x"', etag], [], validators), true);
    assert.equal(notModified([`"x", ${etag}`], [], validators), true);
    assert.equal(notModified(['*'], [], validators), true);
    assert.equal(notModified(['"x"'], [MTIME_TEXT], validators), false);
    assert.equal(notModified([`${etag.slice(0, -1)}`], [], validators), false);
    assert.equal(notModified([], [MTIME_TEXT], validators), true);
    assert.equal(notModified([], [formatHttpDate(MTIME + 60_000)], validators), true);
    assert.equal(notModified([], [formatHttpDate(MTIME - 1000)], validators), false);
    assert.equal(notModified([], ['yesterday'], validators), false);
    assert.equal(notModified([], [MTIME_TEXT, MTIME_TEXT], validators), false);
    assert.equal(rangeStillValid([], validators), true);
    assert.equal(rangeStillValid([etag], validators), true);
    assert.equal(rangeStillValid([`W/${etag}`], validators), false);
    assert.equal(rangeStillValid(['"old"'], validators), false);
    assert.equal(rangeStillValid([MTIME_TEXT], validators), true);
    assert.equal(rangeStillValid([MTIME_TEXT], validators, MTIME + 500), false, 'changed within the last second: the date is not strong');
    assert.equal(rangeStillValid([formatHttpDate(MTIME - 1000)], validators), false);
    assert.equal(rangeStillValid([etag, etag], validators), false);
  });
});

describe('static folders', { timeout: 60_000 }, () => {
  const dir = tempDir('websocksy-static-');
  const www = `${dir.path}/www`;
  const big = randomBytes(4 * 1024 * 1024 + 7);
  const agent = new Agent({ keepAlive: true, maxSockets: 1 });
  let server: RunningWebsocksy;

  const file = (path: string, data: string | Buffer): void => {
    writeFileSync(`${www}/${path}`, data);
    utimesSync(`${www}/${path}`, MTIME / 1000, MTIME / 1000);
  };

  before(async () => {
    for (const sub of ['sub', 'caf\u00e9', 'empty-folder', 'links', '.git', '.well-known', 'sub/.well-known']) mkdirSync(`${www}/${sub}`, { recursive: true });
    file('index.html', '<p>index</p>');
    file('sub/index.html', '<a href="page.html">page</a>');
    file('sub/page.html', 'page');
    file('caf\u00e9/index.html', 'accented');
    file('text.txt', '0123456789'.repeat(100));
    file('big.bin', big);
    file('empty.txt', '');
    file('changing.txt', 'old');
    file('.env', 'SECRET=1');
    file('.git/config', 'SECRET git');
    file('sub/.hidden', 'SECRET hidden');
    file('.well-known/security.txt', 'Contact: mailto:security@example.org');
    file('.well-known/.secret', 'SECRET well-known');
    file('sub/.well-known/x', 'SECRET nested well-known');
    symlinkSync('../.env', `${www}/links/env.txt`);
    symlinkSync(`${dir.path}/outside.txt`, `${www}/links/outside.txt`);
    writeFileSync(`${dir.path}/outside.txt`, 'SECRET outside');
    assert.equal(spawnSync('mkfifo', [`${www}/fifo`]).status, 0, 'mkfifo');
    writeFileSync(
      `${dir.path}/static.cfg`,
      ['[core]', 'listen = 127.0.0.1', 'port = 0', '[backend]', 'host = tcp://127.0.0.1', 'port = 9',
        '[route /files]', 'static = www', '[route /cached]', 'static = www', 'max-age = 600', ''].join('\n'),
    );
    server = await startWebsocksy([`${dir.path}/static.cfg`, '-v']);
  });

  after(async () => {
    agent.destroy();
    await server.stop();
    dir.remove();
  });

  /** One request on the shared keep-alive connection; the body whole. */
  const get = (path: string, headers: Record<string, string> = {}, method = 'GET', body?: string): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; body: Buffer }> =>
    new Promise((resolve, reject) => {
      const req = request({ host: '127.0.0.1', port: server.port, path, method, headers, agent }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
        res.on('error', reject);
      });
      req.setTimeout(10_000, () => req.destroy(new Error(`no answer to ${method} ${path}`)));
      req.on('error', reject);
      req.end(body);
    });

  test('files, types, index.html, 405, and the validators and cache headers on every 200', async () => {
    const index = await get('/files/');
    assert.deepEqual([index.status, index.body.toString(), index.headers['content-type']], [200, '<p>index</p>', 'text/html; charset=utf-8']);
    const text = await get('/files/text.txt');
    assert.equal(text.status, 200);
    assert.equal(text.body.length, 1000);
    assert.equal(text.headers['content-type'], 'text/plain; charset=utf-8');
    assert.equal(text.headers['accept-ranges'], 'bytes');
    assert.match(String(text.headers['etag']), /^"3e8-[0-9a-f]+"$/);
    assert.equal(text.headers['last-modified'], MTIME_TEXT);
    assert.equal(text.headers['cache-control'], 'no-cache');
    assert.equal((await get('/cached/text.txt')).headers['cache-control'], 'public, max-age=600');
    const empty = await get('/files/empty.txt');
    assert.deepEqual([empty.status, empty.headers['content-length'], empty.body.length], [200, '0', 0]);
    const whole = await get('/files/big.bin');
    assert.equal(sha256(whole.body), sha256(big));
    const post = await get('/files/text.txt', {}, 'POST', 'x');
    assert.deepEqual([post.status, post.headers['allow']], [405, 'GET, HEAD']);
    assert.equal((await get('/files/nothing.txt')).status, 404);
  });

  test('dotfiles and dot-folders are 404 (logged at debug), a top-level .well-known is served', async () => {
    for (const path of ['/files/.env', '/files/.git/config', '/files/.git/', '/files/.git', '/files/sub/.hidden', '/files/%2eenv', '/files/.well-known/.secret', '/files/sub/.well-known/x', '/files/links/env.txt']) {
      const answer = await get(path);
      assert.equal(answer.status, 404, path);
      assert.ok(!answer.body.includes('SECRET'), path);
    }
    await server.waitForLog(/debug static hidden .*path=\/files\/\.env /);
    await server.waitForLog(/debug static not found .*path=\/files\/links\/env\.txt .*why="a link leads to a hidden name"/);
    const wellKnown = await get('/files/.well-known/security.txt');
    assert.deepEqual([wellKnown.status, wellKnown.body.toString()], [200, 'Contact: mailto:security@example.org']);
  });

  test('a folder without its trailing slash is redirected, query kept; files never take one', async () => {
    for (const [path, location] of [['/files/sub', '/files/sub/'], ['/files/sub?x=1&y', '/files/sub/?x=1&y'], ['/files', '/files/'], ['/files?', '/files/?'], ['/files/empty-folder', '/files/empty-folder/']]) {
      const answer = await get(path as string);
      assert.deepEqual([answer.status, answer.headers['location']], [301, location], path);
    }
    const head = await get('/files/sub', {}, 'HEAD');
    assert.deepEqual([head.status, head.headers['location'], head.body.length], [301, '/files/sub/', 0]);
    const sub = await get('/files/sub/');
    assert.deepEqual([sub.status, sub.body.toString()], [200, '<a href="page.html">page</a>']);
    assert.equal((await get('/files/empty-folder/')).status, 404, 'a folder without index.html is not listed');
    assert.equal((await get('/files/text.txt/')).status, 404);
    assert.equal((await get('/files/sub/page.html')).body.toString(), 'page');
    // A name sent as raw UTF-8 (socket.write encodes the string so) is found, and redirected escaped.
    const raw = await rawRequest(server.port, 'GET /files/caf\u00e9 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
    assert.deepEqual([raw.status, raw.headers.get('location')], [301, '/files/caf%C3%A9/']);
    const escaped = await get('/files/caf%C3%A9/');
    assert.deepEqual([escaped.status, escaped.body.toString()], [200, 'accented']);
    assert.equal((await rawRequest(server.port, 'GET /files/caf\u00e9/ HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n')).body, 'accented');
  });

  test('If-None-Match (weak, lists, *) and If-Modified-Since answer 304 without a body; If-None-Match wins', async () => {
    const { headers } = await get('/cached/text.txt');
    const etag = String(headers['etag']);
    const expectNotModified = async (conditions: Record<string, string>): Promise<void> => {
      const answer = await get('/cached/text.txt', conditions);
      assert.equal(answer.status, 304, JSON.stringify(conditions));
      assert.equal(answer.body.length, 0);
      assert.deepEqual([answer.headers['etag'], answer.headers['last-modified'], answer.headers['cache-control']], [etag, MTIME_TEXT, 'public, max-age=600']);
    };
    const expectWhole = async (conditions: Record<string, string>): Promise<void> => {
      const answer = await get('/cached/text.txt', conditions);
      assert.deepEqual([answer.status, answer.body.length], [200, 1000], JSON.stringify(conditions));
    };
    await expectNotModified({ 'If-None-Match': etag });
    await expectNotModified({ 'If-None-Match': `W/${etag}` });
    await expectNotModified({ 'If-None-Match': `"other", ${etag}` });
    await expectNotModified({ 'If-None-Match': '*' });
    await expectNotModified({ 'If-Modified-Since': MTIME_TEXT });
    await expectNotModified({ 'If-Modified-Since': 'Thursday, 02-Jan-20 03:04:05 GMT' });
    await expectNotModified({ 'If-Modified-Since': 'Thu Jan  2 03:04:05 2020' });
    await expectNotModified({ 'If-None-Match': etag, 'If-Modified-Since': formatHttpDate(MTIME - 86_400_000) });
    await expectWhole({ 'If-None-Match': '"other"', 'If-Modified-Since': MTIME_TEXT });
    await expectWhole({ 'If-Modified-Since': formatHttpDate(MTIME - 1000) });
    await expectWhole({ 'If-Modified-Since': '2020-01-02' });
    // On the wire: no body, nothing after the head.
    const raw = await rawRequest(server.port, `GET /files/text.txt HTTP/1.1\r\nHost: x\r\nIf-None-Match: ${etag}\r\nConnection: close\r\n\r\n`);
    assert.deepEqual([raw.status, raw.body], [304, '']);
    assert.equal(raw.headers.get('content-length'), undefined);
  });

  test('the ETag follows the file: same size, new time, new tag', async () => {
    const before = String((await get('/files/changing.txt')).headers['etag']);
    writeFileSync(`${www}/changing.txt`, 'NEW');
    const changed = await get('/files/changing.txt', { 'If-None-Match': before });
    assert.deepEqual([changed.status, changed.body.toString()], [200, 'NEW']);
    assert.notEqual(changed.headers['etag'], before);
  });

  test('one byte range gets 206, a bad one 416, several the whole file; HEAD says the same without a body', async () => {
    const expectPart = async (range: string, first: number, last: number): Promise<void> => {
      const answer = await get('/files/big.bin', { Range: range });
      assert.equal(answer.status, 206, range);
      assert.equal(answer.headers['content-range'], `bytes ${first}-${last}/${big.length}`, range);
      assert.equal(answer.headers['content-length'], String(last - first + 1), range);
      assert.equal(sha256(answer.body), sha256(big.subarray(first, last + 1)), range);
    };
    await expectPart('bytes=0-99', 0, 99);
    await expectPart('bytes=0-0', 0, 0);
    await expectPart('bytes=1000000-', 1_000_000, big.length - 1);
    await expectPart('bytes=-10', big.length - 10, big.length - 1);
    await expectPart(`bytes=100-${big.length * 2}`, 100, big.length - 1);
    for (const range of [`bytes=${big.length}-`, 'bytes=-0']) {
      const answer = await get('/files/big.bin', { Range: range });
      assert.deepEqual([answer.status, answer.headers['content-range']], [416, `bytes */${big.length}`], range);
    }
    const emptyFile = await get('/files/empty.txt', { Range: 'bytes=0-' });
    assert.deepEqual([emptyFile.status, emptyFile.headers['content-range']], [416, 'bytes */0']);
    for (const range of ['bytes=0-1,5-6', 'bytes=5-2', 'lines=1-2', 'bytes=x']) {
      const answer = await get('/files/big.bin', { Range: range });
      assert.deepEqual([answer.status, answer.body.length], [200, big.length], range);
    }
    const head = await get('/files/big.bin', { Range: 'bytes=0-99' }, 'HEAD');
    assert.deepEqual([head.status, head.headers['content-length'], head.headers['content-range'], head.body.length], [206, '100', `bytes 0-99/${big.length}`, 0]);
    const headWhole = await get('/files/big.bin', {}, 'HEAD');
    assert.deepEqual([headWhole.status, headWhole.headers['content-length'], headWhole.headers['accept-ranges'], headWhole.body.length], [200, String(big.length), 'bytes', 0]);
    // 404 and 416 to a HEAD carry no body either: the keep-alive connection stays in step.
    for (const [path, headers, status] of [['/files/none', {}, 404], ['/files/.env', {}, 404], ['/files/big.bin', { Range: 'bytes=-0' }, 416]] as const) {
      const answer = await get(path, headers, 'HEAD');
      assert.deepEqual([answer.status, answer.body.length], [status, 0], path);
      assert.equal((await get('/files/sub/page.html')).status, 200, `next request after HEAD ${path}`);
    }
  });

  test('If-Range: the current ETag or date keeps the range, anything else gets the whole file', async () => {
    const etag = String((await get('/files/big.bin')).headers['etag']);
    for (const [ifRange, status] of [[etag, 206], [MTIME_TEXT, 206], [`W/${etag}`, 200], ['"stale"', 200], [formatHttpDate(MTIME + 1000), 200], ['soon', 200]] as const) {
      const answer = await get('/files/big.bin', { Range: 'bytes=10-19', 'If-Range': ifRange });
      assert.equal(answer.status, status, ifRange);
      assert.equal(answer.body.length, status === 206 ? 10 : big.length, ifRange);
    }
  });

  test('no way out of the folder, and a FIFO does not hang the lookup', async () => {
    const attempts = [
      '/files/../secret.txt', '/files/..%2fsecret.txt', '/files/..%2Fsecret.txt', '/files/%2e%2e/outside.txt', '/files/%2e%2e%2foutside.txt',
      '/files/sub/..%2f..%2foutside.txt', '/files/sub/..%5c..%5coutside.txt', '/files//etc/passwd', '/files/%2fetc%2fpasswd',
      `/files/${encodeURIComponent(`${dir.path}/outside.txt`)}`, '/files/sub/%00.txt', '/files/%E0%A4%A', '/files/links/outside.txt',
    ];
    for (const path of attempts) {
      const answer = await rawRequest(server.port, `GET ${path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`);
      // Refused at the edge (400: encoded separators, climbing out) or found nowhere in the folder (404).
      assert.ok(answer.status === 400 || answer.status === 404, `${path}: ${answer.status}`);
      assert.ok(!answer.body.includes('SECRET') && !answer.body.includes('root:'), path);
    }
    await server.waitForLog(/warn  static not found .*path=\/files\/links\/outside\.txt .*why="a link leads outside the folder"/);
    const fifo = await get('/files/fifo');
    assert.equal(fifo.status, 404);
    await server.waitForLog(/static not found .*path=\/files\/fifo .*why="not a regular file"/);
  });

  test('a range of a large file streams to a client that stops reading for a while', async () => {
    const first = 123_456;
    const last = big.length - 1000;
    const body = await new Promise<Buffer>((resolve, reject) => {
      const req = request({ host: '127.0.0.1', port: server.port, path: '/files/big.bin', headers: { Range: `bytes=${first}-${last}` }, agent }, (res) => {
        const chunks: Buffer[] = [];
        res.pause();
        setTimeout(() => res.resume(), 500);
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () => resolve(Buffer.concat(chunks)));
        res.on('error', reject);
      });
      req.setTimeout(10_000, () => req.destroy(new Error('no answer')));
      req.on('error', reject);
      req.end();
    });
    assert.equal(sha256(body), sha256(big.subarray(first, last + 1)));
  });

  test('24 downloads at once, whole and ranged, some cut midway: every body exact, every file closed after', async () => {
    const pid = server.process.pid as number;
    const openFiles = (): number => readdirSync(`/proc/${pid}/fd`).filter((fd) => readlinkOrEmpty(`/proc/${pid}/fd/${fd}`).endsWith('big.bin')).length;
    // Pooled read buffers pass from one response to the next: a mix-up would show as wrong bytes.
    const download = (i: number): Promise<void> =>
      new Promise((resolve, reject) => {
        const first = (i * 99_991) % 1_000_000;
        const last = i % 3 === 0 ? big.length - 1 : big.length - 1 - i * 777;
        const headers = i % 2 === 0 ? {} : { Range: `bytes=${first}-${last}` };
        const req = request({ host: '127.0.0.1', port: server.port, path: '/files/big.bin', headers }, (res) => {
          const chunks: Buffer[] = [];
          let got = 0;
          res.on('data', (chunk: Buffer) => {
            chunks.push(chunk);
            got += chunk.length;
            // Every fifth client goes away after 1 MiB: its file must still be closed.
            if (i % 5 === 4 && got > 1024 * 1024) {
              res.destroy();
              resolve();
            }
          });
          res.on('end', () => {
            const expected = i % 2 === 0 ? big : big.subarray(first, last + 1);
            if (sha256(Buffer.concat(chunks)) === sha256(expected)) resolve();
            else reject(new Error(`download ${i}: wrong body (${got} bytes)`));
          });
          res.on('error', (error) => (i % 5 === 4 ? resolve() : reject(error)));
        });
        req.setTimeout(20_000, () => req.destroy(new Error(`download ${i}: no answer`)));
        req.on('error', (error) => (i % 5 === 4 ? resolve() : reject(error)));
        req.end();
      });
    await Promise.all(Array.from({ length: 24 }, (_, i) => download(i)));
    for (const deadline = Date.now() + 5000; openFiles() > 0 && Date.now() < deadline; ) await new Promise((resolve) => setTimeout(resolve, 20));
    assert.equal(openFiles(), 0, 'no descriptor of big.bin left open');
  });

  describe('with curl', { skip: SKIP_WITHOUT_CURL }, () => {
    const curlText = async (args: readonly string[]): Promise<string> => (await curl(args)).text;
    const url = (path: string): string => `http://127.0.0.1:${server.port}${path}`;

    test('-r 0-99 gets 206 and exactly those bytes', async () => {
      const out = await curlText(['--include', '-r', '0-99', url('/files/big.bin')]);
      const [head = '', body = ''] = out.split('\r\n\r\n');
      assert.match(head, /^HTTP\/1\.1 206 /);
      assert.match(head, new RegExp(`\r\nContent-Range: bytes 0-99/${big.length}\r\n`, 'i'));
      assert.equal(sha256(Buffer.from(body, 'latin1')), sha256(big.subarray(0, 100)));
    });

    test('-z with the file time gets 304, with an older time 200', async () => {
      assert.equal(await curlText(['--output', '/dev/null', '--write-out', '%{http_code}', '-z', MTIME_TEXT, url('/files/text.txt')]), '304');
      assert.equal(await curlText(['--output', '/dev/null', '--write-out', '%{http_code}', '-z', formatHttpDate(MTIME - 1000), url('/files/text.txt')]), '200');
    });

    test('-I answers what GET would, and --path-as-is cannot climb out or read dotfiles', async () => {
      const head = await curlText(['-I', url('/cached/text.txt')]);
      assert.match(head, /^HTTP\/1\.1 200 /);
      for (const line of ['Content-Length: 1000', 'Accept-Ranges: bytes', `Last-Modified: ${MTIME_TEXT}`, 'Cache-Control: public, max-age=600']) assert.ok(head.includes(`\r\n${line}\r\n`), line);
      const redirect = await curlText(['-I', url('/files/sub?a=1')]);
      assert.match(redirect, /^HTTP\/1\.1 301 [^]*\r\nLocation: \/files\/sub\/\?a=1\r\n/);
      assert.equal(await curlText(['--location', url('/files/sub')]), '<a href="page.html">page</a>');
      for (const path of ['/files/../outside.txt', '/files/sub/../../outside.txt', '/files/./.env', '/files/sub/../.git/config']) {
        const out = await curlText(['--path-as-is', '--include', url(path)]);
        assert.match(out, /^HTTP\/1\.1 (400|404) /, path);
        assert.ok(!out.includes('SECRET'), path);
      }
    });
  });
});
