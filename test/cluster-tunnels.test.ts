/*
 * A tunnel server with `workers = 2` (docs/cluster.md, "Tunnel identities"): all of an
 * identity's sessions live in the worker that owns it. A real tunnel client (another websocksy,
 * with an [upstream]) reconnects again and again: whichever worker the kernel hands its
 * connection to, the owner serves it. HTTP routes `via` the identity answer on every connection,
 * whichever worker receives them, and its -R listener (bound by the owner alone) carries TCP,
 * 8 MiB each way whole when the office's connection is relayed by the other worker.
 * When the owner worker is killed, the client reconnects, another worker claims the identity,
 * and the route answers again: the time it takes is printed. A text message on a tunnel socket
 * the other worker relays is a protocol error at the owner, as on a single node.
 */
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';
import { decodeControl, decodeFrame, encodeEmpty, encodeJson, FrameType, TUNNEL_SUBPROTOCOL } from '../src/tunnel/protocol.js';
import { closeClient, connect } from './helpers/client.js';
import { echoDigest, echoThrough, eventually, freshGet } from './helpers/cluster.js';
import { startUpstream, type Upstream } from './helpers/http-upstream.js';
import { core, freePort, startInstance, tunnelSection, upstreamSection } from './helpers/instances.js';
import { tcpEcho, tempDir, type Peer } from './helpers/peers.js';
import { startWebsocksy, type RunningWebsocksy } from './helpers/websocksy.js';

const READY = /cluster listening workers=2 port=(\d+)/;
const TOKEN = 'cluster-office-token';
/** Each new connection reaches the owner's sibling with a chance of one in two. */
const RECONNECTS = 12;

describe('a tunnel server with workers = 2', () => {
  const dir = tempDir('websocksy-cluster-tunnels-');
  let app: Upstream;
  let echo: Peer;
  let hub: RunningWebsocksy;
  let remotePort: number;

  /** The office: an instance behind its NAT, keeping a tunnel to the hub. */
  const startOffice = (): Promise<RunningWebsocksy> =>
    startInstance(dir.path, 'office', `${core()}${upstreamSection('hub', hub.port, 'office', TOKEN, `accept = 127.0.0.1:${app.port}\nremote = ${remotePort}:${echo.address.replace(/^tcp:\/\//, '')}\n`)}`, 1);

  before(async () => {
    app = await startUpstream();
    echo = await tcpEcho();
    remotePort = await freePort();
    const tunnel = tunnelSection(
      dir.path,
      'hub',
      `office ${TOKEN} connect=127.0.0.1:${app.port} listen=127.0.0.1:${remotePort}\nbranch ${TOKEN} connect=127.0.0.1:${app.port}\nraw ${TOKEN} connect=127.0.0.1:${app.port}\nearly ${TOKEN} connect=127.0.0.1:${app.port}\n`,
    );
    const config = `${core()}workers = 2\nverbose = yes\n${tunnel}[route /app]\nto = http://127.0.0.1:${app.port}/\nvia = office\n`;
    writeFileSync(`${dir.path}/hub.cfg`, config);
    hub = await startWebsocksy([`${dir.path}/hub.cfg`], { readyPattern: READY });
  });

  after(async () => {
    await hub?.stop();
    await app?.close();
    await echo?.close();
    dir.remove();
  });

  test('whichever worker a reconnect reaches, the owner serves it; routes and -R answer on every connection', async () => {
    for (let round = 0; round < RECONNECTS; round++) {
      const office = await startOffice();
      try {
        for (let i = 0; i < 6; i++) {
          const answer = await freshGet(hub.port, `/app/round-${round}/${i}`);
          assert.equal(answer.status, 200, `round ${round} request ${i}: ${answer.text}`);
          assert.match(answer.text, new RegExp(`/round-${round}/${i}`));
        }
        const text = `round ${round} through -R`;
        assert.equal(await eventually(3000, () => echoThrough(remotePort, text)), text);
      } finally {
        await office.stop();
      }
    }
    // Lines leave in batches, late under load (src/lib/log.ts): each is waited for, not read at once.
    await hub.waitForLog(/identity owned identity=office/);
    // Some reconnects, and some route requests, reached the worker that does not own the identity.
    await hub.waitForLog(/tunnel relayed .*identity=office to="worker \d"/);
    await hub.waitForLog(/debug +http worker=\d .*upstream="worker \d"/);
  });

  test('a tunnel the other worker relays to the owner carries 8 MiB each way through its -R listener, whole', async () => {
    const bytes = randomBytes(8 * 1024 * 1024);
    const expected = createHash('sha256').update(bytes).digest('hex');
    const relayed = (): number => (hub.log().match(/tunnel relayed .*identity=office/g) ?? []).length;
    // Each connection of the office reaches the worker that does not own the identity one time in two.
    for (let attempt = 0; attempt < RECONNECTS; attempt++) {
      const before = relayed();
      const office = await startOffice();
      try {
        await eventually(3000, () => echoThrough(remotePort, 'ready'));
        // The relay's line is written before the owner answers the hello, and lines leave in batches up to 100 ms late.
        await new Promise((resolve) => setTimeout(resolve, 300));
        if (relayed() === before) continue;
        assert.equal(await echoDigest('127.0.0.1', remotePort, bytes), expected);
        return;
      } finally {
        await office.stop();
      }
    }
    assert.fail(`none of ${RECONNECTS} connections of the office reached the worker that does not own its identity`);
  });

  test('a text message on a tunnel socket the other worker relays is a protocol error at the owner too', async () => {
    const relayed = (): number => (hub.log().match(/tunnel relayed .*identity=raw/g) ?? []).length;
    // Each connection reaches the worker that does not own the identity one time in two.
    for (let attempt = 0; attempt < RECONNECTS; attempt++) {
      const before = relayed();
      const client = await connect(`ws://127.0.0.1:${hub.port}/.tunnel`, TUNNEL_SUBPROTOCOL);
      try {
        client.ws.send(encodeJson(FrameType.control, 0, { type: 'hello', version: 1, name: 'raw', token: TOKEN }));
        assert.equal(decodeControl(decodeFrame((await client.next()).data).body).type, 'welcome');
        // The relay's line is written before the owner answers the hello, and lines leave in batches up to 100 ms late.
        await new Promise((resolve) => setTimeout(resolve, 300));
        if (relayed() === before) continue;
        // A PING in a text message: passed on as binary, the owner answered it as a PING.
        client.ws.send(encodeEmpty(FrameType.ping, 0).toString('latin1'));
        assert.deepEqual(await client.closed(), { code: 4000, reason: 'protocol error: a text message, where every tunnel frame is binary' });
        return;
      } finally {
        await closeClient(client);
      }
    }
    assert.fail(`none of ${RECONNECTS} connections reached the worker that does not own the identity`);
  });

  test('frames sent right behind the hello, while the worker claims the identity, reach the session after the welcome', async () => {
    // No node owns `early` yet, so whichever worker this reaches claims it first; the PING sent
    // before the welcome was dropped during the claim (a node alone answers it).
    const client = await connect(`ws://127.0.0.1:${hub.port}/.tunnel`, TUNNEL_SUBPROTOCOL);
    try {
      client.ws.send(encodeJson(FrameType.control, 0, { type: 'hello', version: 1, name: 'early', token: TOKEN }));
      client.ws.send(encodeEmpty(FrameType.ping, 0));
      assert.equal(decodeControl(decodeFrame((await client.next()).data).body).type, 'welcome');
      // The server's own heartbeat PINGs may come first.
      for (let frames = 0; ; frames++) {
        assert.ok(frames < 10, 'no PONG in the first 10 frames after the welcome');
        if (decodeFrame((await client.next()).data).type === FrameType.pong) break;
      }
    } finally {
      await closeClient(client);
    }
  });

  test('an [upstream] in a cluster: worker 1 alone keeps the tunnel, and the other relays its routes there', async () => {
    const config = `${core()}workers = 2\nverbose = yes\n${upstreamSection('hub', hub.port, 'branch', TOKEN)}[route /up]\nto = http://127.0.0.1:${app.port}/\nvia = hub\n`;
    writeFileSync(`${dir.path}/branch.cfg`, config);
    const branch = await startWebsocksy([`${dir.path}/branch.cfg`], { readyPattern: READY });
    try {
      await branch.waitForLog(/tunnel up worker=1 /);
      for (let i = 0; i < 24; i++) {
        const answer = await eventually(3000, async () => {
          const reply = await freshGet(branch.port, `/up/${i}`);
          if (reply.status !== 200) throw new Error(`HTTP ${reply.status}: ${reply.text}`);
          return reply;
        });
        assert.match(answer.text, new RegExp(`/${i}`));
      }
      assert.doesNotMatch(branch.log(), /tunnel up worker=2 /, 'worker 2 keeps no upstream');
      assert.equal((hub.log().match(/tunnel open .*identity=branch /g) ?? []).length, 1, 'one session of the identity at the hub');
      // Worker 2 relayed route requests to worker 1.
      await branch.waitForLog(/debug +http worker=2 .*upstream="worker 1"/);
    } finally {
      await branch.stop();
    }
  });

  test('the owner worker killed: the client reconnects, the other worker claims the identity, and the route answers again', async () => {
    const office = await startOffice();
    try {
      assert.equal((await freshGet(hub.port, '/app/before')).status, 200);
      const owned = [...hub.log().matchAll(/identity owned identity=office worker=(\d)/g)].map((match) => Number(match[1]));
      const owner = owned.at(-1);
      assert.ok(owner !== undefined);
      const pid = Number(new RegExp(`worker started worker=${owner} pid=(\\d+)`).exec(hub.log())?.[1]);
      const killedAt = Date.now();
      process.kill(pid, 'SIGKILL');
      const answered = await eventually(20_000, async () => {
        const answer = await freshGet(hub.port, '/app/after');
        if (answer.status !== 200) throw new Error(`HTTP ${answer.status}: ${answer.text}`);
        return Date.now() - killedAt;
      });
      console.log(`the route answered again ${answered} ms after the owner worker was killed`);
      assert.equal(await eventually(3000, () => echoThrough(remotePort, 'after the kill')), 'after the kill');
    } finally {
      await office.stop();
    }
  });
});
