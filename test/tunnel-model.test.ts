/*
 * A seeded model test of the tunnel's streams and sessions (test/helpers/tunnel-model.ts): two
 * sessions joined by a link that drops, stalls and resumes at random points, streams opened from
 * both sides at random moments on in-process socket pairs, random chunk sizes (some larger than
 * a data frame may carry) and random FIN timing both ways. Half the runs start the stream ids
 * just below 2^32 so they wrap mid-run. Every byte must arrive exactly once and in order, every
 * stream must finish normally, and nothing may stay in the sessions' maps. Some streams are
 * aborted by one end mid-way: both sides must reset and forget them too.
 * TEST_SEED=<seed> replays a run. A last test makes one stream's socket callback throw: the guard
 * resets that stream alone.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { faultCount } from '../src/lib/guard.js';
import { TunnelStream } from '../src/tunnel/stream.js';
import { Random, testSeed } from './helpers/random.js';
import { describeStream, sha256, TunnelModel } from './helpers/tunnel-model.js';

const RUNS = 150;
const RUN_LIMIT_MS = 20_000;
const DISRUPTIONS = 12;

interface RunSummary {
  readonly streams: number;
  readonly aborted: number;
  readonly drops: number;
  readonly bytes: number;
  readonly wrapped: boolean;
}

async function runModel(seed: number): Promise<RunSummary> {
  const random = new Random(seed);
  const nearWrap = random.chance(0.5);
  const model = new TunnelModel(random, {
    window: random.pick([16_384, 65_536, 262_144]),
    ...(nearWrap ? { clientFirstId: 2 ** 32 - 1 - 2 * random.int(0, 2), serverFirstId: 2 ** 32 - 2 - 2 * random.int(0, 2) } : {}),
  });
  const link = model.link;
  const streamCount = random.int(1, 7);
  let disruptions = 0;
  let bytes = 0;
  link.connect();
  const started = Date.now();
  const where = (): string => `seed ${seed}`;
  for (;;) {
    if (Date.now() - started > RUN_LIMIT_MS) {
      const open = [...model.client.session.streams.values(), ...model.server.session.streams.values()].map((s) => `${s.id}:${describeStream(s)}`);
      assert.fail(`${where()}: not done after ${RUN_LIMIT_MS} ms (streams left ${open.join(' ')}, delivered ${model.allDelivered})`);
    }
    if (model.streams.length < streamCount && random.chance(0.05)) {
      const sizes = [random.chance(0.15) ? 0 : random.int(1, 300_000), random.chance(0.15) ? 0 : random.int(1, 300_000)] as const;
      bytes += sizes[0] + sizes[1];
      const abortedBy = random.chance(0.15) ? random.pick(['opener', 'dialled'] as const) : null;
      model.open(random.chance(0.6) ? 'client' : 'server', sizes[0], sizes[1], abortedBy);
    }
    if (disruptions < DISRUPTIONS && random.chance(0.01)) {
      disruptions++;
      if (!link.up) link.connect();
      else if (link.stalled || random.chance(0.6)) link.drop();
      else link.stalled = true;
    }
    if (!link.up && disruptions >= DISRUPTIONS && random.chance(0.05)) link.connect();
    if (!link.up && disruptions < DISRUPTIONS && random.chance(0.02)) link.connect();
    if (link.stalled && random.chance(0.05)) link.stalled = false;
    link.deliver(random.int(1, 8));
    const finished = model.streams.length === streamCount && model.allDelivered && model.client.session.streams.size === 0 && model.server.session.streams.size === 0;
    if (finished) break;
    await new Promise((resolve) => setImmediate(resolve));
  }
  const aborted = model.streams.filter((stream) => stream.abortedBy !== null).length;
  for (const stream of model.streams) {
    if (stream.abortedBy !== null) continue;
    const dialled = stream.dialled;
    assert.ok(dialled !== null, where());
    assert.equal(stream.opener.receivedBytes, dialled.send.length, `${where()}: stream ${stream.index} toward its opener`);
    assert.equal(stream.opener.received, sha256(dialled.send), `${where()}: stream ${stream.index} toward its opener`);
    assert.equal(dialled.receivedBytes, stream.opener.send.length, `${where()}: stream ${stream.index} toward the dialled side`);
    assert.equal(dialled.received, sha256(stream.opener.send), `${where()}: stream ${stream.index} toward the dialled side`);
    assert.equal(stream.opener.closedEarly, null, where());
    assert.equal(dialled.closedEarly, null, where());
  }
  // Only aborted streams may have been reset (a reset of another one fails its delivery above).
  if (aborted === 0) assert.deepEqual([...model.client.resets, ...model.server.resets], [], where());
  assert.deepEqual([...model.client.failures, ...model.server.failures], [], where());
  return { streams: streamCount, aborted, drops: link.drops, bytes, wrapped: nearWrap };
}

test(`seeded model: ${RUNS} runs of streams through random drops, stalls and resumes, FINs at random`, { timeout: 240_000 }, async () => {
  const base = testSeed();
  process.stderr.write(`tunnel model: seed ${base} (TEST_SEED=${base} replays it; run i uses seed + i)\n`);
  let streams = 0;
  let aborted = 0;
  let drops = 0;
  let bytes = 0;
  let wrapped = 0;
  for (let run = 0; run < RUNS; run++) {
    const summary = await runModel((base + run) >>> 0);
    streams += summary.streams;
    aborted += summary.aborted;
    drops += summary.drops;
    bytes += summary.bytes;
    if (summary.wrapped) wrapped++;
  }
  process.stderr.write(`tunnel model: ${RUNS} runs (${wrapped} across the id wrap), ${streams} streams (${aborted} aborted by one end), ${drops} drops, ${bytes} bytes, all delivered once and in order\n`);
});

test('a throw in one stream’s socket callback resets that stream alone; its neighbour completes', async () => {
  const seed = testSeed();
  const model = new TunnelModel(new Random(seed), { window: 65_536 });
  const faultsBefore = faultCount();
  const prototype = TunnelStream.prototype as unknown as Record<string, (this: TunnelStream, chunk: Buffer) => void>;
  const onSocketData = prototype['onSocketData'] as (this: TunnelStream, chunk: Buffer) => void;
  prototype['onSocketData'] = function (this: TunnelStream, chunk: Buffer): void {
    if (this.id === 1 && this.openedHere && this.state !== 'ended') throw new Error('stream code broke');
    onSocketData.call(this, chunk);
  };
  try {
    model.link.connect();
    const victim = model.open('client', 100_000, 100_000);
    const neighbour = model.open('client', 300_000, 300_000);
    const started = Date.now();
    for (;;) {
      const sessionsEmpty = model.client.session.streams.size === 0 && model.server.session.streams.size === 0;
      if (neighbour.opener.ended && neighbour.dialled?.ended === true && victim.opener.over && sessionsEmpty) break;
      assert.ok(Date.now() - started < 10_000, `seed ${seed}: not done in time`);
      model.link.deliver(8);
      await new Promise((resolve) => setImmediate(resolve));
    }
    assert.equal(neighbour.opener.received, sha256(neighbour.dialled?.send ?? Buffer.alloc(0)));
    assert.equal(neighbour.dialled?.received, sha256(neighbour.opener.send));
    assert.deepEqual(model.client.resets, ['client stream 1: internal error in stream data']);
    assert.match(model.server.resets.join(), /server stream 1: reset by the other side: internal error in stream data/);
    assert.equal(faultCount(), faultsBefore + 1);
  } finally {
    prototype['onSocketData'] = onSocketData;
  }
});
