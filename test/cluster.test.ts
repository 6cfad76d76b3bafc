/*
 * `[core] workers = 2` (docs/cluster.md): real websocksy processes, a primary and two workers on
 * one OS-chosen port, real WebSocket clients (`ws`) and a real TCP echo peer. The kernel spreads
 * connections over both workers; every byte comes back; the metrics a scrape gets are both
 * workers' summed; a worker that dies is replaced while the other keeps serving; SIGTERM drains
 * both and the primary exits; a primary that dies takes its workers with it; and a count the
 * setting cannot take is refused at start. What one worker owns: cluster-sessions.test.ts and
 * cluster-tunnels.test.ts.
 */
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';
import { connect, type TestClient } from './helpers/client.js';
import { tcpEcho, tempDir, type Peer } from './helpers/peers.js';
import { until } from './helpers/session-client.js';
import { parseExposition, sampleValue } from './helpers/prometheus.js';
import { runWebsocksy, startWebsocksy, type RunningWebsocksy } from './helpers/websocksy.js';

const READY = /cluster listening workers=2 port=(\d+)/;

/** The pids of the workers the primary started, in order. */
function workerPids(server: RunningWebsocksy): number[] {
  return [...server.log().matchAll(/worker started worker=\d+ pid=(\d+)/g)].map((match) => Number(match[1]));
}

async function echoOnce(url: string, payload: Buffer): Promise<TestClient> {
  const client = await connect(url);
  client.ws.send(payload);
  const reply = await client.next(5000);
  assert.deepEqual(reply.data, payload);
  return client;
}

describe('workers = 2 on one port', () => {
  const dir = tempDir('websocksy-cluster-');
  let echo: Peer;
  let server: RunningWebsocksy;

  before(async () => {
    echo = await tcpEcho();
    writeFileSync(
      `${dir.path}/cluster.cfg`,
      ['[core]', 'listen = 127.0.0.1', 'port = 0', 'workers = 2', '[backend]', `host = ${echo.address}`, '[status]', 'path = /status', 'metrics = /metrics', 'clients = loopback', ''].join('\n'),
    );
    server = await startWebsocksy([`${dir.path}/cluster.cfg`], { readyPattern: READY });
  });

  after(async () => {
    await server?.stop();
    await echo?.close();
    dir.remove();
  });

  test('both workers take connections, every message comes back whole, and a scrape sums both', async () => {
    const clients: TestClient[] = [];
    // The kernel hashes each connection's addresses and ports: 40 connections reach both workers
    // unless the hash is badly skewed (a chance of 2 in 2^40).
    for (let i = 0; i < 40; i++) clients.push(await echoOnce(server.url, Buffer.from(`message ${i} `.repeat(100))));
    // The workers write their lines in batches (src/lib/log.ts): the last may follow the echo.
    const opened = (): Array<string | undefined> => [...server.log().matchAll(/ info {2}open worker=(\d) /g)].map((match) => match[1]);
    await until(() => opened().length >= 40, 5000, () => `${opened().length} open lines of 40`);
    assert.equal(opened().length, 40);
    assert.deepEqual(new Set(opened()), new Set(['1', '2']), 'connections on both workers');
    const metrics = await fetch(`http://127.0.0.1:${server.port}/metrics`);
    assert.equal(metrics.status, 200);
    const samples = parseExposition(await metrics.text());
    assert.equal(sampleValue(samples, 'websocksy_connections_open', { endpoint: 'bridge' }), 40, 'open connections of both workers, summed');
    for (const client of clients) client.ws.close();
  });

  test('a worker killed is replaced; the other serves meanwhile', async () => {
    const before = server.log().length;
    const pid = workerPids(server)[0] ?? assert.fail('no worker pid logged');
    process.kill(pid, 'SIGKILL');
    await server.waitForLog(/worker died: starting another worker=1/, 5000);
    // Meanwhile and after, every new connection is served (by worker 2, then by either).
    for (let i = 0; i < 20; i++) (await echoOnce(server.url, Buffer.from(`after ${i}`))).ws.close();
    for (let wait = 0; wait < 100 && !/listening worker=1 /.test(server.log().slice(before)); wait++) await new Promise((resolve) => setTimeout(resolve, 100));
    assert.match(server.log().slice(before), /listening worker=1 /, 'the new worker 1 listens within 10 s');
    assert.equal(workerPids(server).length, 3, 'one more worker was started');
    (await echoOnce(server.url, Buffer.from('with both again'))).ws.close();
  });
});

describe('a cluster stops as a server does', () => {
  test('SIGTERM: both workers drain and the primary exits 0', async () => {
    const echo = await tcpEcho();
    const server = await startWebsocksy(['-l', '127.0.0.1', '-p', '0', '-w', '2', '--drain-timeout', '1', '-c', `host=${echo.address}`], { readyPattern: READY });
    const client = await echoOnce(server.url, Buffer.from('hello'));
    const closed = client.closed(10_000);
    const started = Date.now();
    assert.equal(await server.stop('SIGTERM'), 0);
    assert.equal((await closed).code, 1001);
    assert.ok(Date.now() - started < 8000, `stopped in ${Date.now() - started} ms`);
    assert.match(server.log(), /draining worker=1 /);
    assert.match(server.log(), /draining worker=2 /);
    await echo.close();
  });

  test('a primary that is killed takes its workers with it', async () => {
    const echo = await tcpEcho();
    const server = await startWebsocksy(['-l', '127.0.0.1', '-p', '0', '-w', '2', '-c', `host=${echo.address}`], { readyPattern: READY });
    const pids = workerPids(server);
    assert.equal(pids.length, 2);
    await server.stop('SIGKILL');
    const alive = (pid: number): boolean => {
      try {
        process.kill(pid, 0);
        return true;
      } catch {
        return false;
      }
    };
    for (let wait = 0; wait < 100 && pids.some(alive); wait++) await new Promise((resolve) => setTimeout(resolve, 100));
    assert.deepEqual(pids.filter(alive), [], 'no worker outlives its primary by 10 s');
    await echo.close();
  });
});

describe('workers: the setting', () => {
  test('workers = 0 and workers = lots are configuration errors', async () => {
    for (const value of ['0', '256', 'many']) {
      const { code, stderr } = await runWebsocksy(['-p', '0', '-w', value]);
      assert.notEqual(code, 0);
      assert.match(stderr, /workers/);
    }
  });
});
