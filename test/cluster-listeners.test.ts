/*
 * A tunnel client's remote listener (-R) served by every instance of a cluster across hosts
 * (docs/cluster.md, "Remote listeners on every instance"). Three instances, each in a network
 * namespace of its own (a host of its own: all three bind 0.0.0.0 on the same port), share a
 * real Redis (Debian's redis-server) and sit behind a real HAProxy in this namespace; a tunnel
 * client (another websocksy, through HAProxy) asks for `remote = 0.0.0.0:9001:<echo>`:
 *   - its owner binds the port, and the two other instances bind it too and relay what they
 *     accept to the owner: an echo answers through every instance;
 *   - 8 MiB each way through another instance, with the client half-closing, arrive whole;
 *   - the relay's WebSocket refuses a request without the cluster's secret, and one for an
 *     address the node did not bind;
 *   - the owner killed: the client reattaches through HAProxy, its new owner takes the port
 *     over from its own mirror, and the listener answers through both survivors (time printed).
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';
import WebSocket from 'ws';
import { echoDigest, echoThrough, eventually, latestOpener, startHaproxy } from './helpers/cluster.js';
import { freePort, startInstance, tunnelSection, upstreamSection } from './helpers/instances.js';
import { canMakeNamespaces, makeNetwork, type VirtualHost, type VirtualNetwork } from './helpers/netns.js';
import { tcpEcho, tempDir, type Peer } from './helpers/peers.js';
import { accepting, stopProgram } from './helpers/programs.js';
import { findProgram, requireProgram, skipUnlessInstalled } from './helpers/tools.js';
import { startWebsocksy, type RunningWebsocksy } from './helpers/websocksy.js';

const REDIS = findProgram(['/usr/bin/redis-server', '/usr/sbin/redis-server']);
const HAPROXY = findProgram(['/usr/sbin/haproxy', '/usr/bin/haproxy']);
const TOKEN = 'cluster-office-token';
const SECRET = 'a-cluster-secret-of-forty-characters-xyz';
/** Each host is fresh: the same ports everywhere. */
const CLIENT_PORT = 8001;
const LINK_PORT = 7001;
const REMOTE_PORT = 9001;
const TTL = 2;

/** How a link answers a listener relay's handshake: the HTTP status, or 101. */
function relayHandshake(host: VirtualHost, headers: Record<string, string>, address: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`ws://${host.address}:${LINK_PORT}/.tunnel?listener=${encodeURIComponent(address)}`, ['websocksy-listener.1'], { headers, handshakeTimeout: 5000 });
    ws.on('open', () => {
      ws.terminate();
      resolve(101);
    });
    ws.on('unexpected-response', (_request, response) => {
      ws.terminate();
      resolve(response.statusCode ?? 0);
    });
    ws.on('error', (error) => reject(error));
  });
}

describe('remote listeners on every instance, each on a host of its own', { skip: skipUnlessInstalled(REDIS !== undefined && HAPROXY !== undefined && canMakeNamespaces(), 'redis-server, haproxy, iproute2 and root') }, () => {
  const dir = tempDir('websocksy-cluster-listeners-');
  let network: VirtualNetwork | undefined;
  let echo: Peer;
  let redis: ChildProcess | undefined;
  let haproxy: ChildProcess | undefined;
  const instances = new Map<VirtualHost, RunningWebsocksy>();
  let office: RunningWebsocksy | undefined;

  const hosts = (): readonly VirtualHost[] => network?.hosts ?? [];

  /** The host whose instance opened the office's latest session. */
  const ownerHost = (): Promise<VirtualHost> => eventually(5000, async () => latestOpener(instances, 'office'));

  before(async () => {
    network = makeNetwork(3);
    echo = await tcpEcho();
    writeFileSync(`${dir.path}/cluster.secret`, `${SECRET}\n`);
    const redisPort = await freePort();
    redis = spawn(requireProgram(REDIS, 'redis-server'), ['--port', String(redisPort), '--bind', '127.0.0.1', network.gateway, '--protected-mode', 'no', '--save', '', '--appendonly', 'no', '--dir', dir.path], { stdio: 'ignore' });
    await accepting(redisPort);
    const tunnel = tunnelSection(dir.path, 'hub', `office ${TOKEN} listen=0.0.0.0:${REMOTE_PORT}\n`);
    for (const [index, host] of network.hosts.entries()) {
      const config = [
        '[core]', `listen = ${host.address}`, `port = ${CLIENT_PORT}`, 'verbose = yes',
        tunnel,
        '[cluster]', `redis = redis://${network.gateway}:${redisPort}`, `instance = ${index + 1}`, `secret-file = ${dir.path}/cluster.secret`,
        `link = ${host.address}`, `link-port = ${LINK_PORT}`, `ttl = ${TTL}`,
        '',
      ].join('\n');
      writeFileSync(`${dir.path}/${host.name}.cfg`, config);
      instances.set(host, await startWebsocksy([`${dir.path}/${host.name}.cfg`], { wrapper: host.wrapper }));
    }
    const haproxyPort = await freePort();
    haproxy = await startHaproxy(requireProgram(HAPROXY, 'haproxy'), dir.path, haproxyPort, network.hosts.map((host) => [host.name, `${host.address}:${CLIENT_PORT}`] as const));
    const target = echo.address.replace(/^tcp:\/\//, '');
    office = await startInstance(dir.path, 'office', `[core]\nlisten = 127.0.0.1\nport = 0\n${upstreamSection('hub', haproxyPort, 'office', TOKEN, `remote = 0.0.0.0:${REMOTE_PORT}:${target}\n`)}`, 1);
  });

  after(async () => {
    await office?.stop();
    await stopProgram(haproxy);
    for (const instance of instances.values()) await instance.stop();
    await stopProgram(redis);
    await echo?.close();
    network?.remove();
    dir.remove();
  });

  test('the owner binds the listener, the other instances mirror it, and it answers through each', async () => {
    const owner = await ownerHost();
    for (const host of hosts()) {
      const text = `through ${host.name}`;
      assert.equal(await eventually(5000, () => echoThrough(REMOTE_PORT, text, host.address)), text);
      const log = instances.get(host)?.log() ?? '';
      if (host === owner) assert.match(log, /remote listener .*address=0\.0\.0\.0:9001/);
      else assert.match(log, /remote listener mirrored address=0\.0\.0\.0:9001 identity=office/);
    }
  });

  test('8 MiB each way through another instance, with a half-close, arrive whole and in order', async () => {
    const owner = await ownerHost();
    const bytes = randomBytes(8 * 1024 * 1024);
    const expected = createHash('sha256').update(bytes).digest('hex');
    for (const host of hosts().filter((candidate) => candidate !== owner)) {
      try {
        assert.equal(await echoDigest(host.address, REMOTE_PORT, bytes), expected);
      } catch (error) {
        // What each instance said about its relayed connections: why one was reset.
        const said = [...instances].flatMap(([each, instance]) => instance.log().split('\n').filter((line) => / (warn|error) /.test(line) && !/engine caveat/.test(line)).map((line) => `${each.name}: ${line}`));
        throw new Error(`through ${host.name}: ${String(error)}\n${said.join('\n')}`);
      }
    }
  });

  test("the relay's WebSocket wants the cluster's secret, and a listener the node bound", async () => {
    const owner = await ownerHost();
    assert.equal(await relayHandshake(owner, {}, `0.0.0.0:${REMOTE_PORT}`), 403);
    assert.equal(await relayHandshake(owner, { 'websocksy-link': 'not-the-secret-at-all-but-long-enough' }, `0.0.0.0:${REMOTE_PORT}`), 403);
    assert.equal(await relayHandshake(owner, { 'websocksy-link': SECRET }, '0.0.0.0:9999'), 404);
    const other = hosts().find((host) => host !== owner) as VirtualHost;
    // A mirror is not a listener of the node's own: relays go to the owner alone.
    assert.equal(await relayHandshake(other, { 'websocksy-link': SECRET }, `0.0.0.0:${REMOTE_PORT}`), 404);
    assert.equal(await relayHandshake(owner, { 'websocksy-link': SECRET }, `0.0.0.0:${REMOTE_PORT}`), 101);
  });

  test('the owner killed: the listener answers through both survivors again (time printed)', async () => {
    const owner = await ownerHost();
    const killed = Date.now();
    instances.get(owner)?.process.kill('SIGKILL');
    const survivors = hosts().filter((host) => host !== owner);
    for (const host of survivors) assert.equal(await eventually(15_000, () => echoThrough(REMOTE_PORT, `after ${host.name}`, host.address)), `after ${host.name}`);
    const seconds = (Date.now() - killed) / 1000;
    console.log(`# remote listener answering through both survivors ${seconds.toFixed(2)} s after its owner was killed (ttl ${TTL} s)`);
    const newOwner = await ownerHost();
    assert.notEqual(newOwner, owner);
    // It took the port over from its own mirror, at the first try or after the mirror let go.
    assert.doesNotMatch(instances.get(newOwner)?.log() ?? '', /listen refused/);
  });
});
