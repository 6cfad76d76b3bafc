/*
 * `log-format = json`: every line websocksy writes is one JSON object (pino) with time, level
 * and msg, from the first line on (the format is read ahead of the settings that log), and the
 * fields the text lines have: one connection id from open to close, client text bounded and
 * made printable as in text lines.
 */
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';
import { engine } from '../src/front/engine.js';
import { connect } from './helpers/client.js';
import { rawRequest, upgradeRequest } from './helpers/http.js';
import { tcpEcho, tempDir, type Peer } from './helpers/peers.js';
import { startWebsocksy, type RunningWebsocksy } from './helpers/websocksy.js';

type Line = Record<string, unknown> & { level: string; time: string; msg: string };

/** uWS's own line for each late upgrade on a build that cannot cork one (docs/engine.md): not websocksy's to format. */
const ENGINE_CORK_WARNING = /^Warning: uWS\.HttpResponse writes must be made from within a corked callback/;

function linesOf(log: string): Line[] {
  return log
    .split('\n')
    .slice(0, -1)
    .filter((line) => engine().corksLateUpgrades || !ENGINE_CORK_WARNING.test(line))
    .map((line) => {
      const parsed = JSON.parse(line) as Line;
      assert.match(parsed.time, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/, line);
      assert.ok(['error', 'warn', 'info', 'debug'].includes(parsed.level), line);
      assert.equal(typeof parsed.msg, 'string', line);
      return parsed;
    });
}

async function lineWhere(server: RunningWebsocksy, match: (line: Line) => boolean): Promise<Line> {
  for (let attempt = 0; attempt < 100; attempt++) {
    const found = linesOf(server.log()).find(match);
    if (found !== undefined) return found;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  assert.fail(`no such line in:\n${server.log()}`);
}

describe('JSON log lines', () => {
  const dir = tempDir('websocksy-json-log-');
  let echo: Peer;
  let server: RunningWebsocksy;
  before(async () => {
    echo = await tcpEcho();
    // In the file, after the lines that make the plugin loader log: read ahead all the same.
    writeFileSync(`${dir.path}/json.cfg`, ['[core]', 'listen = 127.0.0.1', 'port = 0', 'ping = 0', 'log-format = json', '[backend]', `host = ${echo.address}`, ''].join('\n'));
    server = await startWebsocksy([`${dir.path}/json.cfg`], { readyPattern: /^.*"msg":"listening".*$/m });
  });
  after(async () => {
    await server.stop();
    await echo.close();
    dir.remove();
  });

  test('from the first line on: the plugin loader and the engine line are JSON too', () => {
    const lines = linesOf(server.log());
    assert.equal(lines[0]?.msg, 'framing plugin loaded');
    assert.ok(lines.some((line) => line.msg === 'engine native' || line.msg.startsWith('engine')));
    const listening = lines.find((line) => line.msg === 'listening');
    assert.equal(listening?.port, server.port, 'numbers stay numbers');
  });

  test("one id from a connection's open to its close, with the same fields as the text lines", async () => {
    const client = await connect(`${server.url}/json-endpoint`);
    client.ws.send('x');
    await client.next();
    client.ws.close(4001, 'done');
    await client.closed();
    const open = await lineWhere(server, (line) => line.msg === 'open' && line.endpoint === '/json-endpoint');
    const close = await lineWhere(server, (line) => line.msg === 'close' && line.id === open.id);
    assert.equal(typeof open.id, 'number');
    assert.equal(open.client, '127.0.0.1');
    assert.equal(open.peer, echo.address);
    assert.deepEqual([close.to_peer, close.to_client, close.code, close.reason, close.by], [1, 1, 4001, 'done', 'client']);
  });

  test('client text is bounded and made printable as in text lines', async () => {
    const answer = await rawRequest(server.port, upgradeRequest(`/ctl\u0085x${'a'.repeat(3_000)}`));
    assert.equal(answer.status, 101);
    const open = await lineWhere(server, (line) => line.msg === 'open' && String(line.endpoint).startsWith('/ctl'));
    assert.match(String(open.endpoint), /^\/ctl\\x85xa+…\(\+\d+ chars\)$/);
    const refused = await rawRequest(server.port, upgradeRequest('/del\x7fpath'));
    assert.equal(refused.status, 400);
    const line = await lineWhere(server, (candidate) => candidate.msg === 'refused' && String(candidate.endpoint).startsWith('/del'));
    assert.equal(line.endpoint, '/del\\x7fpath');
    assert.equal(line.level, 'info');
  });

  test('websocksy forward --log-format json: its lines are JSON too, the failed dials included', async () => {
    const forward = await startWebsocksy(['forward', '-L', '0:127.0.0.1:9', 'ws://alice@127.0.0.1:9/.tunnel', '--token', 't', '--log-format', 'json', '--reconnect-min', '0.05'], {
      readyPattern: /^.*"msg":"forwarding".*$/m,
    });
    try {
      await forward.waitForLog(/"msg":"tunnel connect failed"/);
      const lines = linesOf(forward.log());
      assert.ok(lines.some((line) => line.msg === 'forwarding' && line.identity === 'alice'), forward.log());
    } finally {
      await forward.stop();
    }
  });

  test('a bad log-format is a config error naming it', async () => {
    const failed = await startWebsocksy(['-l', '127.0.0.1', '-p', '0', '--log-format', 'xml'], { readyPattern: /never/, timeoutMs: 5000 }).then(
      () => null,
      (error: Error) => error.message,
    );
    assert.match(failed ?? '', /log-format: "xml" is not text or json/);
  });
});
