/*
 * The Redis registry (src/cluster/redis-registry.ts) against a real Redis (Debian's
 * redis-server, on a free port): nodes that start together, as the workers of one instance do,
 * each see the others at once. A node's first read of the map and another's announcement on
 * the channel may cross; a map read that replaced the whole map dropped a node heard during
 * the read, until the next read a third of the TTL later (a resume reaching the other worker
 * in that window was told its session did not exist).
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { after, before, describe, test } from 'node:test';
import { RedisRegistry } from '../src/cluster/redis-registry.js';
import { freePort } from './helpers/instances.js';
import { tempDir } from './helpers/peers.js';
import { accepting, stopProgram } from './helpers/programs.js';
import { findProgram, requireProgram, skipUnlessInstalled } from './helpers/tools.js';

const REDIS = findProgram(['/usr/bin/redis-server', '/usr/sbin/redis-server']);
/** Long: no periodic read of the map happens during a round, so only the start and the channel count. */
const TTL_MS = 60_000;
const ROUNDS = 40;

describe('the Redis registry', { skip: skipUnlessInstalled(REDIS !== undefined, 'redis-server') }, () => {
  const dir = tempDir('websocksy-registry-');
  let redis: ChildProcess | undefined;
  let url = '';

  before(async () => {
    const port = await freePort();
    redis = spawn(requireProgram(REDIS, 'redis-server'), ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir.path], { stdio: 'ignore' });
    await accepting(port);
    url = `redis://127.0.0.1:${port}`;
  });

  after(async () => {
    await stopProgram(redis);
    dir.remove();
  });

  test(`two nodes started together see each other as soon as both have started (${ROUNDS} pairs)`, async () => {
    const missed: string[] = [];
    for (let round = 0; round < ROUNDS; round++) {
      // Fresh node numbers each round: no key of an earlier round answers for them.
      const [first, second] = [round * 2 + 1, round * 2 + 2].map((node) => new RedisRegistry({ url, self: 256 + node, ttlMs: TTL_MS }));
      const registries = [first, second] as RedisRegistry[];
      try {
        await Promise.all(registries.map((registry, index) => registry.start(new URL(`http://127.0.0.1:${20_000 + round * 2 + index}`))));
        // The channel delivers within milliseconds; the map's next full read is TTL / 3 away.
        await new Promise((resolve) => setTimeout(resolve, 100));
        const [a, b] = registries as [RedisRegistry, RedisRegistry];
        if (a.linkOf(256 + round * 2 + 2) === null) missed.push(`round ${round}: the first does not know the second`);
        if (b.linkOf(256 + round * 2 + 1) === null) missed.push(`round ${round}: the second does not know the first`);
      } finally {
        await Promise.all(registries.map((registry) => registry.close()));
      }
    }
    assert.deepEqual(missed, []);
  });
});
