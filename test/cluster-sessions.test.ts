/*
 * Resumable sessions with `workers = 2` (docs/cluster.md, "Owned by one worker"): a session
 * lives in the worker that made it, and a resume the kernel hands to the other worker is relayed
 * to it over the workers' loopback links, over WebSocket and over HTTP alike, with nothing lost
 * or doubled. A worker's link answers nothing to a request without the cluster's secret.
 */
import assert from 'node:assert/strict';
import { request as httpRequest } from 'node:http';
import { after, before, describe, test } from 'node:test';
import { tcpEcho, type Peer } from './helpers/peers.js';
import { httpRecord, httpRecords, SessionConnection, T } from './helpers/session-records.js';
import { startWebsocksy, type RunningWebsocksy } from './helpers/websocksy.js';

const READY = /cluster listening workers=2 port=(\d+)/;
/** Each resume reaches the other worker with a chance of one in two: this many make missing it a 1 in 2^40 event. */
const RESUMES = 40;

/** How many resumes over WebSocket a worker relayed to the other. */
function relayCount(server: RunningWebsocksy): number {
  return server.log().split('\n').filter((line) => line.includes('session relayed')).length;
}

/** One HTTP request on a connection of its own (the kernel picks the worker per connection). */
function freshRequest(url: string, method: string, headers: Record<string, string>, body: Buffer | null): Promise<{ status: number; body: Buffer }> {
  return new Promise((resolve, reject) => {
    const request = httpRequest(url, { method, headers, agent: false, timeout: 10_000 }, (response) => {
      const chunks: Buffer[] = [];
      response.on('data', (chunk: Buffer) => chunks.push(chunk));
      response.on('end', () => resolve({ status: response.statusCode ?? 0, body: Buffer.concat(chunks) }));
      response.on('error', reject);
    });
    request.on('timeout', () => request.destroy(new Error(`${method} ${url}: no answer in 10 s`)));
    request.on('error', reject);
    request.end(body ?? undefined);
  });
}

describe('resumable sessions with workers = 2', () => {
  let echo: Peer;
  let server: RunningWebsocksy;

  before(async () => {
    echo = await tcpEcho();
    server = await startWebsocksy(['-l', '127.0.0.1', '-p', '0', '-k', '0', '-w', '2', '-v', '-c', `host=${echo.address}`, '-c', 'resumable=yes'], { readyPattern: READY });
  });

  after(async () => {
    await server?.stop();
    await echo?.close();
  });

  test('a session resumed over WebSocket on either worker carries on, every byte once, in order', async () => {
    let connection = await SessionConnection.open(server.url);
    const { session, secret, path } = connection.welcome;
    const resumeUrl = `${server.url}${path}`;
    let expected = '';
    for (let round = 0; round < RESUMES; round++) {
      const text = `round ${round} `.repeat(50);
      expected += text;
      connection.send(T.binary, text);
      await connection.pump(() => connection.received >= expected.length);
      connection.acknowledge();
      connection.cut();
      const resumed = await SessionConnection.resume(resumeUrl, { v: 1, session, secret, received: connection.received, takeover: true });
      assert.ok(resumed instanceof SessionConnection, `resume ${round}: ${JSON.stringify(resumed)}`);
      assert.equal(resumed.welcome.resumed, true);
      resumed.data.push(...connection.data);
      connection = resumed;
    }
    assert.equal(Buffer.concat(connection.data).toString(), expected);
    // Some resumes reached the worker that does not hold the session (its lines may leave late).
    await server.waitForLog(/session relayed/);
    connection.send(T.end, '{}');
    await connection.client.closed();
  });

  test('a session driven over HTTP, each request on a new connection, is served by the worker that holds it', async () => {
    const connection = await SessionConnection.open(server.url);
    const { session, secret, path } = connection.welcome;
    connection.cut();
    await server.waitForQuiet();
    const before = relayCount(server);
    const base = `http://127.0.0.1:${server.port}${path}/${session}`;
    const auth = { authorization: `Bearer ${secret}` };
    let sent = 0;
    let received = 0;
    let heard = '';
    for (let round = 0; round < 20; round++) {
      const text = `http ${round};`;
      const posted = await freshRequest(`${base}/send?offset=${sent}`, 'POST', auth, httpRecord(T.binary, text));
      assert.equal(posted.status, 200, `send ${round}: ${posted.body.toString()}`);
      sent += text.length;
      for (let poll = 0; received < sent; poll++) {
        assert.ok(poll < 10, `round ${round}: ${received} of ${sent} bytes back after 10 polls`);
        const polled = await freshRequest(`${base}/poll?received=${received}&wait=5`, 'GET', auth, null);
        assert.equal(polled.status, 200, `poll ${round}: ${polled.body.toString()}`);
        for (const record of httpRecords(polled.body)) {
          if (record.type !== T.binary && record.type !== T.text) continue;
          heard += record.body.toString();
          received += record.body.length;
        }
      }
    }
    assert.equal(heard, Array.from({ length: 20 }, (_, round) => `http ${round};`).join(''));
    // -v logs each proxied request: those relayed, some of them, name the worker they went to.
    await server.waitForLog(/debug +http worker=\d .*upstream="worker \d"/);
    await server.waitForQuiet();
    assert.equal(relayCount(server), before, 'HTTP relays are not logged as WebSocket ones');
  });

  test("a worker's link refuses a request without the cluster's secret", async () => {
    const links = [...server.log().matchAll(/listening worker=\d .*link=(\d+)/g)].map((match) => Number(match[1]));
    assert.equal(links.length, 2, server.log());
    for (const link of links) {
      const answer = await freshRequest(`http://127.0.0.1:${link}/`, 'GET', { 'websocksy-link': 'guess' }, null);
      assert.equal(answer.status, 403);
    }
  });
});
