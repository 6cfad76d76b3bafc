/*
 * Instances on several hosts serving as one (docs/cluster.md, "Across hosts"): three websocksy
 * instances on loopback (the third with two workers, each a node of its own) sharing a real Redis (Debian's redis-server, on a free port) behind a
 * real HAProxy (Debian's, round robin), and a tunnel client (another websocksy, its [upstream]
 * pointed at HAProxy) attached to whichever instance HAProxy gave it:
 *   - HTTP routes `via` its identity, and its -L forward, work through every instance;
 *   - a resumable session resumes through every instance;
 *   - the instance that owns the identity killed mid-traffic: the identity is reachable again
 *     through the others, and the time it took is printed;
 *   - Redis restarted mid-traffic: no request is misrouted (every answer is the right one, or
 *     503), and everything answers again once Redis is back;
 *   - a split: the owner stopped (SIGSTOP), Redis emptied, the identity claimed by another
 *     instance; woken, the first owner finds it lost, ends its sessions, and all routes agree.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';
import { Redis } from 'ioredis';
import { echoThrough, eventually, freshGet, latestOpener, startHaproxy } from './helpers/cluster.js';
import { startUpstream, type Upstream } from './helpers/http-upstream.js';
import { core, freePort, startInstance, tunnelSection, upstreamSection } from './helpers/instances.js';
import { tcpEcho, tempDir, type Peer } from './helpers/peers.js';
import { accepting, stopProgram } from './helpers/programs.js';
import { SessionConnection, T } from './helpers/session-records.js';
import { findProgram, requireProgram, skipUnlessInstalled } from './helpers/tools.js';
import { runWebsocksy, type RunningWebsocksy } from './helpers/websocksy.js';

const REDIS = findProgram(['/usr/bin/redis-server', '/usr/sbin/redis-server']);
const HAPROXY = findProgram(['/usr/sbin/haproxy', '/usr/bin/haproxy']);
const TOKEN = 'cluster-office-token';
const SECRET = 'a-cluster-secret-of-forty-characters-xyz';
/** Seconds a registry entry outlives its node: the failure tests wait about this long. */
const TTL = 2;

/** A route request through HAProxy that must answer 200 with its own path. */
async function routeAnswers(port: number, path: string): Promise<void> {
  const answer = await freshGet(port, path);
  if (answer.status !== 200) throw new Error(`${path}: HTTP ${answer.status} ${answer.text}`);
  assert.ok(answer.text.includes(`"url":"${path.slice('/app'.length)}"`), `${path} answered with another request's body: ${answer.text}`);
}

describe('three instances on Redis behind HAProxy', { skip: skipUnlessInstalled(REDIS !== undefined && HAPROXY !== undefined, 'redis-server and haproxy') }, () => {
  const dir = tempDir('websocksy-cluster-redis-');
  let app: Upstream;
  let echo: Peer;
  let redis: ChildProcess | undefined;
  let redisPort: number;
  let haproxy: ChildProcess | undefined;
  let haproxyPort: number;
  let forwardPort: number;
  const instances = new Map<string, RunningWebsocksy>();
  let office: RunningWebsocksy | undefined;

  const startRedis = async (): Promise<void> => {
    redis = spawn(requireProgram(REDIS, 'redis-server'), ['--port', String(redisPort), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir.path], { stdio: 'ignore' });
    await accepting(redisPort);
  };

  /** Instance 3 runs two workers: nodes 769 and 770 beside 256 and 512. */
  const instanceConfig = (number: number): string =>
    [
      core(),
      number === 3 ? 'workers = 2' : '',
      // -v: each relayed route request names the instance it went to.
      'verbose = yes',
      '[backend]', `host = ${echo.address}`, 'resumable = yes',
      tunnelSection(dir.path, 'hub', `office ${TOKEN} connect=127.0.0.1:${app.port},${echo.address.replace(/^tcp:\/\//, '')}\nbranch ${TOKEN} connect=127.0.0.1:${app.port}\n`),
      '[route /app]', `to = http://127.0.0.1:${app.port}/`, 'via = office',
      '[status]', 'path = /.status', 'clients = loopback',
      '[cluster]', `redis = redis://127.0.0.1:${redisPort}`, `instance = ${number}`, `secret-file = ${dir.path}/cluster.secret`, 'link = 127.0.0.1', `ttl = ${TTL}`,
      '',
    ].join('\n');

  /** Resumes relayed by any instance so far. */
  const sessionRelays = (): number => [...instances.values()].reduce((sum, instance) => sum + (instance.log().match(/session relayed .*to="instance \d/g) ?? []).length, 0);

  /** Every instance's log lines that name `session` or the registry, for a failure's message. */
  const trailOf = (session: string): string =>
    [...instances]
      .flatMap(([name, instance]) => instance.log().split('\n').filter((line) => line.includes(session) || line.includes('cluster registry') || line.includes('cluster node') || line.includes('session socket refused')).map((line) => `${name}: ${line}`))
      .join('\n');

  /** The processes of an instance: itself, and its workers if it has any. */
  const processesOf = (instance: RunningWebsocksy): number[] => [instance.process.pid as number, ...[...instance.log().matchAll(/worker started worker=\d+ pid=(\d+)/g)].map((match) => Number(match[1]))];

  /** The instance that opened the office's latest tunnel session. */
  const ownerName = (): string => latestOpener(instances, 'office');

  before(async () => {
    app = await startUpstream();
    echo = await tcpEcho();
    writeFileSync(`${dir.path}/cluster.secret`, `${SECRET}\n`);
    redisPort = await freePort();
    await startRedis();
    for (const [number, name] of ['a', 'b', 'c'].entries()) instances.set(name, await startInstance(dir.path, name, instanceConfig(number + 1)));
    haproxyPort = await freePort();
    haproxy = await startHaproxy(requireProgram(HAPROXY, 'haproxy'), dir.path, haproxyPort, [...instances].map(([name, instance]) => [name, `127.0.0.1:${instance.port}`] as const));
    forwardPort = await freePort();
    const upstream = upstreamSection('hub', haproxyPort, 'office', TOKEN, `accept = 127.0.0.1:${app.port}\nlocal = ${forwardPort}:${echo.address.replace(/^tcp:\/\//, '')}\n`);
    office = await startInstance(dir.path, 'office', `${core()}${upstream}`, 1);
  });

  after(async () => {
    await office?.stop();
    await stopProgram(haproxy);
    for (const instance of instances.values()) await instance.stop();
    await stopProgram(redis);
    await app?.close();
    await echo?.close();
    dir.remove();
  });

  test('routes via the identity and its -L forward work through every instance', async () => {
    for (let i = 0; i < 30; i++) await eventually(3000, () => routeAnswers(haproxyPort, `/app/spread/${i}`));
    const owner = ownerName();
    for (const [name, instance] of instances) {
      if (name === owner) continue;
      // Each relayed its route requests to the owner (lines leave in batches: waited for).
      await instance.waitForLog(/upstream="instance \d/).catch((error: Error) => assert.fail(`instance ${name} relayed none of its route requests to the owner: ${error.message}`));
    }
    for (let i = 0; i < 5; i++) assert.equal(await echoThrough(forwardPort, `forward ${i}`), `forward ${i}`);
    const status = (await (await fetch(`http://127.0.0.1:${(instances.get('a') as RunningWebsocksy).port}/.status`)).json()) as { cluster: { node: string; kind: string; fresh: boolean; owners: Record<string, string>; nodes: string[] } };
    assert.equal(status.cluster.node, 'instance 1');
    assert.equal(status.cluster.kind, 'redis');
    assert.equal(status.cluster.fresh, true);
    assert.match(status.cluster.owners['office'] ?? '', /^instance \d/);
    assert.deepEqual(status.cluster.nodes, ['instance 1', 'instance 2', 'instance 3 worker 1', 'instance 3 worker 2']);
  });

  test('a resumable session resumes through every instance, the two that do not hold it relaying', async () => {
    let connection = await SessionConnection.open(`ws://127.0.0.1:${haproxyPort}`);
    const { session, secret, path } = connection.welcome;
    const ports = [...instances.values()].map((instance) => instance.port);
    const relaysBefore = sessionRelays();
    let expected = '';
    // Each instance in turn, twice, straight to its port: where the resume lands is the test's choice, not the balancer's.
    for (let round = 0; round < 2 * ports.length; round++) {
      const text = `session round ${round};`;
      expected += text;
      connection.send(T.binary, text);
      await connection.pump(() => connection.received >= expected.length);
      connection.acknowledge();
      connection.cut();
      const port = ports[round % ports.length] as number;
      const resumed = await SessionConnection.resume(`ws://127.0.0.1:${port}${path}`, { v: 1, session, secret, received: connection.received, takeover: true });
      assert.ok(resumed instanceof SessionConnection, `resume ${round} on port ${port}: ${JSON.stringify(resumed)}; what the instances logged of the session and the registry:\n${trailOf(session)}`);
      resumed.data.push(...connection.data);
      connection = resumed;
    }
    assert.equal(Buffer.concat(connection.data).toString(), expected);
    // Four at least; instance 3's worker that does not hold a session of instance 3 relays too.
    // Log lines leave in batches, up to 100 ms late (src/lib/log.ts): wait for the last ones.
    let relays = sessionRelays() - relaysBefore;
    for (const deadline = Date.now() + 2000; relays < 4 && Date.now() < deadline; relays = sessionRelays() - relaysBefore) await new Promise((resolve) => setTimeout(resolve, 20));
    assert.ok(relays >= 4 && relays <= 6, `${relays} resumes relayed: the two instances that do not hold the session relay theirs`);
    connection.send(T.end, '{}');
    await connection.client.closed();
  });

  test('Redis restarted mid-traffic: nothing misrouted, everything answers again once it is back', async () => {
    const answers = new Map<number, number>();
    const count = (status: number): void => void answers.set(status, (answers.get(status) ?? 0) + 1);
    let stop = false;
    const traffic = (async () => {
      for (let i = 0; !stop && i < 10_000; i++) {
        const path = `/app/redis/${i}`;
        const answer = await freshGet(haproxyPort, path);
        count(answer.status);
        if (answer.status === 200) assert.ok(answer.text.includes(`"url":"${path.slice('/app'.length)}"`), `${path} answered with another request's body`);
        else assert.equal(answer.status, 503, `${path}: ${answer.status} ${answer.text}`);
      }
    })();
    // A session instance 1 holds, detached before the outage, to be resumed on instance 2 during it.
    const holder = instances.get('a') as RunningWebsocksy;
    const other = instances.get('b') as RunningWebsocksy;
    const held = await SessionConnection.open(`ws://127.0.0.1:${holder.port}`);
    const { session, secret, path } = held.welcome;
    held.send(T.binary, 'before the outage;');
    await held.pump(() => held.received >= 'before the outage;'.length);
    held.acknowledge();
    held.cut();
    const hello = { v: 1, session, secret, received: held.received, takeover: true };
    await new Promise((resolve) => setTimeout(resolve, 500));
    await stopProgram(redis);
    // Longer than the TTL: the instances that do not own the identity stop believing their map.
    await new Promise((resolve) => setTimeout(resolve, (TTL + 1) * 1000));
    // Instance 2 cannot tell where instance 1 is now: the client is told to try again, not that its session is gone.
    const refused = await SessionConnection.resume(`ws://127.0.0.1:${other.port}${path}`, hello);
    assert.ok(!(refused instanceof SessionConnection), 'a resume relayed on a map older than the TTL');
    assert.deepEqual(refused, { error: 'unavailable', code: 4503 });
    const poll = await fetch(`http://127.0.0.1:${other.port}${path}/${session}/poll?received=${held.received}&wait=0`, { headers: { authorization: `Bearer ${secret}`, 'websocksy-takeover': '1' } });
    assert.equal(poll.status, 503);
    assert.equal(poll.headers.get('retry-after'), '1');
    assert.equal(((await poll.json()) as { error: string }).error, 'unavailable');
    await startRedis();
    const back = Date.now();
    await eventually(15_000, async () => {
      for (let i = 0; i < 6; i++) await routeAnswers(haproxyPort, `/app/after-redis/${i}`);
    });
    // Once Redis is back, the same resume on instance 2 reaches the session, which lost nothing.
    let resumed: SessionConnection | undefined;
    await eventually(5000, async () => {
      const answer = await SessionConnection.resume(`ws://127.0.0.1:${other.port}${path}`, hello);
      if (!(answer instanceof SessionConnection)) throw new Error(`resume after Redis came back: ${JSON.stringify(answer)}`);
      resumed = answer;
    });
    const after = resumed as SessionConnection;
    after.send(T.binary, 'after;');
    await after.pump(() => after.received >= 'before the outage;after;'.length);
    assert.equal(Buffer.concat(after.data).toString(), 'after;');
    after.send(T.end, '{}');
    await after.client.closed();
    console.log(`Redis restarted: every instance answered again ${Date.now() - back} ms after Redis was back; answers during the test: ${JSON.stringify(Object.fromEntries(answers))}`);
    stop = true;
    await traffic;
    assert.ok((answers.get(503) ?? 0) > 0, 'while Redis was away past the TTL, the instances that do not own the identity answered 503');
  });

  test("an instance of the cluster keeps its own [upstream], and serves routes via it", async () => {
    const upstream = upstreamSection('hub', haproxyPort, 'branch', TOKEN);
    const config = `${core()}${upstream}[route /up]\nto = http://127.0.0.1:${app.port}/\nvia = hub\n[cluster]\nredis = redis://127.0.0.1:${redisPort}\ninstance = 9\nsecret-file = ${dir.path}/cluster.secret\nlink = 127.0.0.1\nttl = ${TTL}\n`;
    const branch = await startInstance(dir.path, 'branch', config, 1);
    try {
      for (let i = 0; i < 3; i++) {
        const answer = await freshGet(branch.port, `/up/${i}`);
        assert.equal(answer.status, 200, answer.text);
        assert.ok(answer.text.includes(`"url":"/${i}"`), answer.text);
      }
    } finally {
      await branch.stop();
    }
  });

  test('a split (Redis lost the owner while it was stopped, and another instance claimed): the stopped one lets go when it wakes', async () => {
    await eventually(5000, () => routeAnswers(haproxyPort, '/app/before-split'));
    const first = ownerName();
    const stopped = instances.get(first) as RunningWebsocksy;
    const pids = processesOf(stopped);
    const claimant = [...instances].find(([name]) => name !== first)?.[1] as RunningWebsocksy;
    const redisClient = new Redis(`redis://127.0.0.1:${redisPort}`);
    let second: RunningWebsocksy | undefined;
    try {
      for (const pid of pids) process.kill(pid, 'SIGSTOP');
      // Redis forgets everything, as a restart without persistence would.
      await redisClient.flushall();
      // Past a third of the TTL: the claimant's map no longer names the stopped owner.
      await new Promise((resolve) => setTimeout(resolve, (TTL * 1000) / 2));
      const upstream = upstreamSection('direct', claimant.port, 'office', TOKEN, `accept = 127.0.0.1:${app.port}\n`);
      second = await startInstance(dir.path, 'second-office', `${core()}${upstream}`, 1);
      // The second client claimed it, or the first, reconnecting meanwhile through HAProxy, did
      // elsewhere; that instance's log line may still be on its way through its pipe.
      await eventually(3000, async () => assert.notEqual(ownerName(), first, 'another instance owns the identity now'));
    } finally {
      for (const pid of pids) process.kill(pid, 'SIGCONT');
      redisClient.disconnect();
    }
    await stopped.waitForLog(/identity lost to another node .*identity=office/);
    await eventually(10_000, async () => {
      for (let i = 0; i < 9; i++) await routeAnswers(haproxyPort, `/app/after-split/${i}`);
    });
    await second.stop();
  });

  test('the owner instance killed: the identity is reachable again through the others', async () => {
    await eventually(5000, () => routeAnswers(haproxyPort, '/app/before-kill'));
    const owner = ownerName();
    const killed = instances.get(owner) as RunningWebsocksy;
    const killedAt = Date.now();
    killed.process.kill('SIGKILL');
    await eventually(20_000, async () => {
      for (let i = 0; i < 4; i++) await routeAnswers(haproxyPort, `/app/after-kill/${i}`);
    });
    const took = Date.now() - killedAt;
    console.log(`owner instance ${owner} killed: routes via its identity answered through the others again after ${took} ms (ttl ${TTL} s)`);
    await eventually(3000, async () => assert.notEqual(ownerName(), owner, 'another instance serves the identity now'));
    assert.equal(await echoThrough(forwardPort, 'after the kill'), 'after the kill');
    instances.delete(owner);
  });
});

describe('the [cluster] section', () => {
  const dir = tempDir('websocksy-cluster-config-');
  after(() => dir.remove());

  test('each mistake is refused at start, naming the file, the line and what to do', async () => {
    writeFileSync(`${dir.path}/secret`, `${SECRET}\n`);
    writeFileSync(`${dir.path}/short`, 'short\n');
    const base = (lines: readonly string[]): string => ['[core]', 'listen = 127.0.0.1', 'port = 0', '[cluster]', ...lines, ''].join('\n');
    const cases: ReadonlyArray<readonly [string, RegExp]> = [
      [base(['link = 127.0.0.1']), /bad\.cfg:4 \[cluster\]: needs redis, instance, secret-file/],
      [base(['redis = http://127.0.0.1:6379', 'instance = 1', 'secret-file = secret', 'link = 127.0.0.1']), /bad\.cfg:5 \[cluster\]: redis: "http:\/\/127\.0\.0\.1:6379" is not a redis:\/\/ or rediss:\/\/ URL/],
      [base(['redis = redis://127.0.0.1:1', 'instance = 256', 'secret-file = secret', 'link = 127.0.0.1']), /bad\.cfg:6 \[cluster\]: instance: "256" is not a whole number from 1 to 255/],
      [base(['redis = redis://127.0.0.1:1', 'instance = 1', 'secret-file = short', 'link = 127.0.0.1']), /bad\.cfg:7 \[cluster\]: secret-file: the secret in short has 5 characters; it needs at least 32/],
      [base(['redis = redis://127.0.0.1:1', 'instance = 1', 'secret-file = secret', 'link = 0.0.0.0']), /\[cluster\]: link = 0\.0\.0\.0 listens on every address: say which one the other instances reach with advertise = HOST/],
      [base(['redis = redis://127.0.0.1:1', 'instance = 1', 'secret-file = secret', 'link = 127.0.0.1']), /cannot reach the cluster's Redis at redis:\/\/127\.0\.0\.1:1: connect ECONNREFUSED/],
    ];
    for (const [text, expected] of cases) {
      writeFileSync(`${dir.path}/bad.cfg`, text);
      const run = await runWebsocksy([`${dir.path}/bad.cfg`]);
      assert.equal(run.code, 1, run.stderr);
      assert.match(run.stderr, expected);
    }
  });
});
