/*
 * What clients send reaches the log printable and bounded: a path or header of thousands of
 * characters, control
 * characters in an endpoint, a header or a close reason, Unicode line separators and bidi
 * overrides. Real requests against the real process; its whole log is then checked line by line.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { engine } from '../src/front/engine.js';
import { printable } from '../src/lib/text.js';
import { connect } from './helpers/client.js';
import { rawRequest, upgradeRequest } from './helpers/http.js';
import { tcpEcho, type Peer } from './helpers/peers.js';
import { startWebsocksy, type RunningWebsocksy } from './helpers/websocksy.js';

/** Characters a log line must never hold as themselves (the line's own end aside). */
// eslint-disable-next-line no-control-regex
const RAW_CONTROL = /[\x00-\x09\x0b-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]/;
const TIMESTAMP = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z (error|warn |info |debug) /;
/** uWS's own line for each late upgrade on a build that cannot cork one (Engine.corksLateUpgrades, docs/engine.md). */
const ENGINE_CORK_WARNING = /^Warning: uWS\.HttpResponse writes must be made from within a corked callback/;
/** A line of fields that each hold at most 256 characters of client text. */
const LONGEST_LINE = 2048;

function assertWellFormed(log: string): void {
  const lines = log.split('\n').slice(0, -1).filter((line) => engine().corksLateUpgrades || !ENGINE_CORK_WARNING.test(line));
  for (const line of lines) {
    assert.match(line, TIMESTAMP, `every line starts with a timestamp: ${printable(line, 200)}`);
    assert.doesNotMatch(line, RAW_CONTROL, `no raw control character: ${printable(line, 200)}`);
    assert.ok(line.length <= LONGEST_LINE, `line of ${line.length} characters: ${line.slice(0, 200)}`);
  }
}

/** The log line of `event` (open, close, refused) for the connection whose line first matches `marker`. */
async function lineOf(server: RunningWebsocksy, event: string, marker: RegExp): Promise<string> {
  const id = /id=(\d+)/.exec(await server.waitForLog(new RegExp(`(open|refused) id=\\d+ .*${marker.source}.*`)))?.[1];
  return server.waitForLog(new RegExp(`${event} id=${id} .*`));
}

describe('client-supplied values in log lines', () => {
  let echo: Peer;
  let server: RunningWebsocksy;
  before(async () => {
    echo = await tcpEcho();
    // uWS reads at most 4 KiB of request head (more with UWS_HTTP_MAX_HEADERS_SIZE, but then it
    // resets most upgrades whose head spans several reads: docs/engine.md), so the values stay under that.
    server = await startWebsocksy(['-l', '127.0.0.1', '-p', '0', '-k', '0', '-c', `host=${echo.address}`]);
  });
  after(async () => {
    await server.stop();
    await echo.close();
  });

  test('a 3.8 KB path is cut to 256 characters, saying how many more there were', async () => {
    const answer = await rawRequest(server.port, upgradeRequest(`/long${'a'.repeat(3_800)}`));
    assert.equal(answer.status, 101);
    for (const event of ['open', 'close']) {
      const line = await lineOf(server, event, /endpoint="?\/longaaaa/);
      assert.match(line, /endpoint="?\/longa{251}…\(\+3549 chars\)"? /);
      assert.ok(line.length < 1000, `${event} line of ${line.length} characters`);
    }
  });

  test('a 3.5 KB header is cut the same way', async () => {
    const answer = await rawRequest(server.port, upgradeRequest('/long-header', [`X-Forwarded-For: 10.9.8.7${' ,10.0.0.1'.repeat(350)}`]));
    assert.equal(answer.status, 101);
    const line = await lineOf(server, 'open', /endpoint=\/long-header/);
    assert.match(line, /forwarded_for="10\.9\.8\.7 ,10\.0\.0\.1[^"]*…\(\+\d+ chars\)"/);
    assert.ok(line.length < 1000, `open line of ${line.length} characters`);
  });

  test('control characters and line separators in an endpoint are escaped', async () => {
    const answer = await rawRequest(server.port, upgradeRequest('/ctl\u0085next\u2028line\u202eeid'));
    assert.equal(answer.status, 101);
    const line = await lineOf(server, 'open', /endpoint=\/ctl/);
    assert.match(line, /endpoint=\/ctl\\x85next\\u2028line\\u202eeid /);
  });

  test('a refused endpoint with DEL is logged escaped', async () => {
    const answer = await rawRequest(server.port, upgradeRequest('/del\x7fpath'));
    assert.equal(answer.status, 400);
    const line = await lineOf(server, 'refused', /endpoint=\/del/);
    assert.match(line, /endpoint=\/del\\x7fpath status="400 Bad Request"/);
  });

  test('control characters in a header are escaped', async () => {
    const answer = await rawRequest(server.port, upgradeRequest('/ctl-header', ['X-Forwarded-For: 10.1.1.1\u0085\u2028forged=1']));
    assert.equal(answer.status, 101);
    const line = await lineOf(server, 'open', /endpoint=\/ctl-header/);
    assert.match(line, /forwarded_for="10\.1\.1\.1\\x85\\u2028forged=1" /);
  });

  test("a client's close reason with ESC, newline and NUL is escaped", async () => {
    const client = await connect(`${server.url}/closing`);
    client.ws.close(4000, 'bye\x1b[2J\n2026-01-01T00:00:00.000Z error forged\x00');
    await client.closed();
    const line = await lineOf(server, 'close', /endpoint=\/closing/);
    assert.match(line, /code=4000 reason="bye\\x1b\[2J\\x0a2026-01-01T00:00:00\.000Z error forged\\x00" by=client/);
  });

  test('after all of that, every line of the log is one timestamped, printable, bounded line', () => assertWellFormed(server.log()));
});

describe('printable', () => {
  test('escapes controls, separators, bidi overrides and backslashes; short text is kept whole', () => {
    assert.equal(printable('plain /path?q=1 ünïcödé'), 'plain /path?q=1 ünïcödé');
    assert.equal(printable('a\\b\x00\x1b\n\x7f\u0085\u2028\u2029\u202e\u2066z'), 'a\\\\b\\x00\\x1b\\x0a\\x7f\\x85\\u2028\\u2029\\u202e\\u2066z');
  });

  test('cuts after max characters, never inside a surrogate pair', () => {
    assert.equal(printable('x'.repeat(300)), `${'x'.repeat(256)}…(+44 chars)`);
    assert.equal(printable(`${'x'.repeat(255)}😀yz`), `${'x'.repeat(255)}…(+4 chars)`);
    assert.equal(printable('abcdef', 6), 'abcdef');
  });
});
