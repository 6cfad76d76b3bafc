/*
 * websocksy run under a low open-file limit (prlimit), filled with bridged connections until
 * connecting a peer fails with EMFILE: that upgrade, a request on an http:// route and an upgrade
 * on a websocket route each get 503 with Retry-After (the server ran out, the peer did not), and
 * the log names the limit as this host's. Once the clients leave, everything is served again.
 * At start, websocksy warned that max-connections does not fit in that limit.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { readdirSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { connect as netConnect, type AddressInfo, type Socket } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { WebSocketServer } from 'ws';
import { softOpenFileLimit } from '../src/server/open-file-limit.js';
import { closeClient, connect, type TestClient } from './helpers/client.js';
import { rawRequest, upgradeRequest } from './helpers/http.js';
import { tcpEcho, tempDir, type Peer } from './helpers/peers.js';
import { until, within } from './helpers/session-client.js';
import { findProgram, requireProgram, skipUnlessInstalled } from './helpers/tools.js';
import { startWebsocksy, type RunningWebsocksy } from './helpers/websocksy.js';

const PRLIMIT = findProgram(['/usr/bin/prlimit']);
/** Node and websocksy hold about 25 descriptors at start; a bridged connection takes two. */
const OPEN_FILES = 120;

/** Descriptor numbers under the limit that `pid` does not use: the kernel gives the lowest free one, and none past the limit. */
function freeDescriptors(pid: number): number {
  return OPEN_FILES - readdirSync(`/proc/${pid}/fd`).filter((fd) => Number(fd) < OPEN_FILES).length;
}

describe("connects that fail on this host's open-file limit", { skip: skipUnlessInstalled(PRLIMIT !== undefined, 'prlimit (util-linux)') }, () => {
  const dir = tempDir('websocksy-host-limits-');
  let echo: Peer;
  const upstream = createServer((_req, res) => res.end('upstream'));
  let wsUpstream: WebSocketServer;
  let server: RunningWebsocksy;
  const clients: TestClient[] = [];
  const holders: Socket[] = [];

  before(async () => {
    echo = await tcpEcho();
    upstream.listen(0, '127.0.0.1');
    await once(upstream, 'listening');
    wsUpstream = new WebSocketServer({ host: '127.0.0.1', port: 0 });
    await once(wsUpstream, 'listening');
    const config = [
      '[core]',
      'listen = 127.0.0.1',
      'port = 0',
      '[backend]',
      `host = ${echo.address}`,
      '[route /api]',
      `to = http://127.0.0.1:${(upstream.address() as AddressInfo).port}`,
      '[route /chat]',
      `websocket = ws://127.0.0.1:${(wsUpstream.address() as AddressInfo).port}`,
      '',
    ];
    writeFileSync(`${dir.path}/limits.cfg`, config.join('\n'));
    server = await startWebsocksy([`${dir.path}/limits.cfg`], { wrapper: [requireProgram(PRLIMIT, 'prlimit'), `--nofile=${OPEN_FILES}`, '--'] });
  });

  after(async () => {
    await Promise.all(clients.map((client) => closeClient(client)));
    for (const holder of holders) holder.destroy();
    await server?.stop();
    await echo?.close();
    upstream.close();
    wsUpstream?.close();
    dir.remove();
  });

  test('the start says that max-connections does not fit in the open-file limit', async () => {
    await server.waitForLog(new RegExp(`warn  open-file limit below what max-connections needs limit=${OPEN_FILES} max_connections=10000 needed=20064 fix=`));
    const limits = 'Limit                     Soft Limit           Hard Limit           Units     \nMax open files            1024                 524288               files     \n';
    assert.equal(softOpenFileLimit(limits), 1024);
    assert.equal(softOpenFileLimit(limits.replace('1024 ', 'unlimited')), null);
  });

  test('the bridge, an http:// route and a websocket route answer 503 with Retry-After, and serve again once descriptors are free', async () => {
    // Each bridged connection takes two descriptors, the client's at accept() and the peer's.
    // With one left, the next accept() takes it and its peer's connect fails: the case under
    // test. With none left, accept() itself would fail and the client would wait
    // (docs/limits.md); so with two left, one idle TCP connection takes one first.
    const pid = server.process.pid ?? 0;
    let refusal = '';
    for (let i = 0; i < OPEN_FILES && refusal === ''; i++) {
      const free = freeDescriptors(pid);
      if (free === 2) {
        holders.push(netConnect(server.port, '127.0.0.1'));
        await until(() => freeDescriptors(pid) === 1, 5000, 'websocksy accepting the idle connection');
      }
      try {
        clients.push(await within(connect(`${server.url}/fill`), 5000, `answer to upgrade ${i} (${free} descriptors were free)`));
      } catch (error) {
        refusal = (error as Error).message;
      }
    }
    assert.equal(refusal, 'HTTP 503', `the first refused upgrade after ${clients.length} bridged connections`);
    assert.ok(clients.length > 20, `${clients.length} connections bridged before the limit`);
    await server.waitForLog(/refused .*endpoint=\/fill status="503 Service Unavailable" why="cannot connect to tcp:\/\/127\.0\.0\.1:\d+: EMFILE \(a limit of this host, not the peer's: docs\/limits\.md\)" reason=host-limit/);

    const bridge = await rawRequest(server.port, upgradeRequest('/fill'));
    assert.deepEqual([bridge.status, bridge.headers.get('retry-after')], [503, '1']);
    const route = await rawRequest(server.port, 'GET /api/x HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
    assert.deepEqual([route.status, route.headers.get('retry-after')], [503, '1'], route.raw);
    await server.waitForLog(/http upstream failed .*path=\/api\/x .*status=503 why=".*EMFILE.*a limit of this host/);
    const relay = await rawRequest(server.port, upgradeRequest('/chat'));
    assert.deepEqual([relay.status, relay.headers.get('retry-after')], [503, '1']);
    await server.waitForLog(/refused .*endpoint=\/chat status="503 Service Unavailable" .*reason=host-limit/);

    await Promise.all(clients.splice(0).map((client) => closeClient(client)));
    for (const holder of holders.splice(0)) holder.destroy();
    const again = await connect(`${server.url}/again`);
    again.ws.send('back');
    assert.equal((await again.next()).data.toString(), 'back');
    await closeClient(again);
    assert.equal((await rawRequest(server.port, 'GET /api/y HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n')).body, 'upstream');
  });
});
