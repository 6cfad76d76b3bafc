/*
 * west's four topologies with HTTP routes through tunnels, five real websocksy processes and a
 * real node:http server:
 *   case 1  L (behind NAT) reaches a server beside the hub G:  L /c1 via its upstream to G
 *   case 2  G reaches a server behind L (west's reason to be): G /c2 via the identity l
 *   case 3  L reaches a server behind L2, relayed by G:         L /c3 via G → G /l2 via l2
 *   case 4  a chain G ← M ← N: G reaches a server behind N:     G /c4 via m → M /n via n
 * 100 MB each way in every case (checksummed, streamed); every
 * method, chunked responses and 200 concurrent requests in each; allow-lists on the dialling
 * side; 503 while a tunnel is down (from either end), and recovery once it is back.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { echoOf, patternHash, send, startUpstream, type Upstream } from './helpers/http-upstream.js';
import { core, freePort, startInstance, tunnelSection, upstreamSection } from './helpers/instances.js';
import { tempDir } from './helpers/peers.js';
import { rssBytes } from './helpers/process-figures.js';
import type { RunningWebsocksy } from './helpers/websocksy.js';

const MB = 1024 * 1024;

describe('http routes through tunnels: west topologies', () => {
  const dir = tempDir('websocksy-topologies-');
  let server: Upstream;
  let other: Upstream;
  let g: RunningWebsocksy;
  let l: RunningWebsocksy;
  let l2: RunningWebsocksy;
  let m: RunningWebsocksy;
  let n: RunningWebsocksy;
  let l2Config = '';
  /** The port of L's upstream "nowhere": nothing listens there until the 503 test starts a hub. */
  let dead = 0;
  let late: RunningWebsocksy | null = null;
  const peakRss = new Map<string, number>();

  before(async () => {
    server = await startUpstream();
    other = await startUpstream();
    const up = `http://127.0.0.1:${server.port}`;
    const gPort = await freePort();
    const mPort = await freePort();
    dead = await freePort();
    g = await startInstance(
      dir.path,
      'g',
      core(gPort) +
        tunnelSection(dir.path, 'g', `l tok-l connect=127.0.0.1:${server.port},127.0.0.1:${gPort}\nl2 tok-l2\nm tok-m\n`) +
        `[route /c2]\nto = ${up}/\nvia = l\n[route /c2-refused]\nto = http://127.0.0.1:${other.port}/\nvia = l\n` +
        `[route /l2]\nto = ${up}/\nvia = l2\n[route /c4]\nto = http://127.0.0.1:${mPort}/n\nvia = m\n`,
    );
    l = await startInstance(
      dir.path,
      'l',
      core() +
        upstreamSection('hub', g.port, 'l', 'tok-l', `accept = 127.0.0.1:${server.port}\n`) +
        upstreamSection('nowhere', dead, 'l', 'tok-l') +
        `[route /c1]\nto = ${up}/\nvia = hub\n[route /c1-refused]\nto = http://127.0.0.1:${other.port}/\nvia = hub\n` +
        `[route /c3]\nto = http://127.0.0.1:${g.port}/l2\nvia = hub\n[route /down]\nto = ${up}/\nvia = nowhere\n`,
      1,
    );
    l2Config = core() + upstreamSection('hub', g.port, 'l2', 'tok-l2', `accept = 127.0.0.1:${server.port}\n`);
    l2 = await startInstance(dir.path, 'l2', l2Config, 1);
    m = await startInstance(
      dir.path,
      'm',
      core(mPort) + tunnelSection(dir.path, 'm', 'n tok-n\n') +
        upstreamSection('hub', g.port, 'm', 'tok-m', `accept = 127.0.0.1:${mPort}\n`) + `[route /n]\nto = ${up}/\nvia = n\n`,
      1,
    );
    n = await startInstance(dir.path, 'n', core() + upstreamSection('m', mPort, 'n', 'tok-n', `accept = 127.0.0.1:${server.port}\n`), 1);
  });

  after(async () => {
    if (process.env['ROUTES_TEST_LOGS'] !== undefined) for (const instance of [g, l, l2, m, n]) console.log(instance.log());
    for (const instance of [late, n, m, l2, l, g]) await instance?.stop();
    await server.close();
    await other.close();
    dir.remove();
    for (const [name, bytes] of peakRss) console.log(`# peak RSS of ${name} during 100 MB transfers: ${(bytes / MB).toFixed(0)} MB`);
  });

  /** Every method, a query, a chunked response and a small body each way through `prefix` on `entry`. */
  async function methods(entry: RunningWebsocksy, prefix: string): Promise<void> {
    for (const method of ['GET', 'POST', 'PUT', 'DELETE', 'PATCH']) {
      const body = method === 'GET' || method === 'DELETE' ? undefined : `${method} body`;
      const reply = await send(entry.port, `${prefix}/things/1?q=a%20b`, { method, ...(body === undefined ? {} : { body }) });
      assert.equal(reply.status, 200, `${method} ${prefix}`);
      const seen = echoOf(reply);
      assert.equal(seen.method, method);
      assert.match(seen.url, /\/things\/1\?q=a%20b$/);
      assert.equal(seen.bytes, body === undefined ? 0 : body.length);
      assert.match(String(seen.headers['x-forwarded-for']), /127\.0\.0\.1/);
    }
    const head = await send(entry.port, `${prefix}/h`, { method: 'HEAD' });
    assert.deepEqual([head.status, head.bytes, head.headers['x-upstream']], [200, 0, 'echo']);
    const chunked = await send(entry.port, `${prefix}/download?bytes=300000&chunked`);
    assert.equal(chunked.headers['transfer-encoding'], 'chunked');
    assert.deepEqual([chunked.bytes, chunked.sha256], [300000, patternHash(300000)]);
    const teapot = await send(entry.port, `${prefix}/status?code=418`);
    assert.deepEqual([teapot.status, teapot.text], [418, 'status 418\n']);
  }

  /** `size` bytes each way through `prefix`, checksummed; samples the RSS of `watch` meanwhile. */
  async function bodies(entry: RunningWebsocksy, prefix: string, size: number, watch: Record<string, RunningWebsocksy> = {}): Promise<void> {
    const sampler = setInterval(() => {
      for (const [name, instance] of Object.entries(watch)) {
        const pid = instance.process.pid;
        if (pid !== undefined) peakRss.set(name, Math.max(peakRss.get(name) ?? 0, rssBytes(pid)));
      }
    }, 50);
    try {
      let started = Date.now();
      const down = await send(entry.port, `${prefix}/download?bytes=${size}`);
      const downMs = Date.now() - started;
      assert.deepEqual([down.status, down.bytes, down.sha256], [200, size, patternHash(size)]);
      started = Date.now();
      const up = echoOf(await send(entry.port, `${prefix}/upload`, { method: 'POST', body: size, chunked: true }));
      const upMs = Date.now() - started;
      assert.deepEqual([up.bytes, up.sha256], [size, patternHash(size)]);
      if (size >= 100 * MB) console.log(`# ${prefix}: ${size / MB} MB down in ${downMs} ms, up (chunked) in ${upMs} ms`);
    } finally {
      clearInterval(sampler);
    }
  }

  async function concurrent(entry: RunningWebsocksy, prefix: string, count = 200): Promise<void> {
    const replies = await Promise.all(Array.from({ length: count }, (_, i) => send(entry.port, `${prefix}/c/${i}`, { method: 'POST', body: `n${i}` })));
    replies.forEach((reply, i) => {
      assert.equal(reply.status, 200);
      assert.match(echoOf(reply).url, new RegExp(`/c/${i}$`));
    });
  }

  test('case 1: a client behind NAT reaches a server beside the hub', async () => {
    await methods(l, '/c1');
    await bodies(l, '/c1', 100 * MB, { 'L (entry)': l, 'G (hub, dials)': g });
    await concurrent(l, '/c1');
  });

  test('case 2: a client beside the hub reaches a server behind NAT', async () => {
    await methods(g, '/c2');
    await bodies(g, '/c2', 100 * MB, { 'G (hub, entry)': g, 'L (dials)': l });
    await concurrent(g, '/c2');
  });

  test('case 3: two NAT-ed sites relayed through the hub', async () => {
    await methods(l, '/c3');
    await bodies(l, '/c3', 100 * MB, { 'L (entry)': l, 'G (hub, relays)': g });
    await concurrent(l, '/c3');
  });

  test('case 4: a chain of instances', async () => {
    await methods(g, '/c4');
    await bodies(g, '/c4', 100 * MB, { 'G (hub, entry)': g });
    await concurrent(g, '/c4');
  });

  test('the dialling side checks its allow-list: refused streams are 502s', async () => {
    const hubSide = await send(l.port, '/c1-refused/x');
    assert.deepEqual([hubSide.status, hubSide.text], [502, 'Bad gateway\n']);
    await g.waitForLog(/stream refused identity=l .*not in this identity's connect allow-list/);
    const natSide = await send(g.port, '/c2-refused/x');
    assert.deepEqual([natSide.status, natSide.text], [502, 'Bad gateway\n']);
    await l.waitForLog(/stream refused upstream=hub .*not in this identity's connect allow-list/);
  });

  test('a tunnel that is down gives 503, and routes recover once it reconnects', async () => {
    // The client side: L's upstream "nowhere" has no hub yet; once one appears, L connects.
    const never = await send(l.port, '/down/x');
    assert.deepEqual([never.status, never.text], [503, 'Service unavailable\n']);
    late = await startInstance(dir.path, 'late', core(dead) + tunnelSection(dir.path, 'late', `l tok-l connect=127.0.0.1:${server.port}\n`));
    await l.waitForLog(/tunnel up upstream=nowhere/);
    assert.equal((await send(l.port, '/down/x')).status, 200);
    // The hub side: l2's tunnel goes away and comes back.
    await l2.stop();
    await g.waitForLog(/tunnel detached identity=l2/);
    assert.equal((await send(g.port, '/l2/x')).status, 503);
    // Relayed: L's request reaches G, whose route to l2 answers 503, which L passes on.
    assert.equal((await send(l.port, '/c3/x')).status, 503);
    l2 = await startInstance(dir.path, 'l2', l2Config, 1);
    assert.equal((await send(g.port, '/l2/x')).status, 200);
    assert.equal((await send(l.port, '/c3/x')).status, 200);
  });
});
