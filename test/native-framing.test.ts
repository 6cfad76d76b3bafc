/*
 * The C framing plugins (plugins/framing_*.c) against the TS builtins they mirror, in this process
 * through koffi and the real PeerFramer: the same random streams, cut at the same random points,
 * must give byte-identical frames and opcodes, and the same failures. Failures print the seed:
 * TEST_SEED=<seed> replays them.
 */
import assert from 'node:assert/strict';
import { before, describe, test } from 'node:test';
import type { FramingDefinition } from '../src/core/api.js';
import { FramingFailure } from '../src/core/framer.js';
import { dynamic32Framing } from '../src/framing/dynamic32.js';
import { fixedlengthFraming } from '../src/framing/fixedlength.js';
import { createFramingRegistry } from '../src/framing/index.js';
import { jsonFraming } from '../src/framing/json.js';
import type { FramingRegistry } from '../src/framing/registry.js';
import { nativeHost } from '../src/native/host.js';
import { dynamic32Sample, feed, fixedlengthSample, jsonSample, peerReads, pieceStream, splits, type Framed } from './helpers/framing-streams.js';
import { adversarialLongRunStream, longRunStream } from './helpers/json-long-runs.js';
import { BUILT_PLUGINS, loadFramings, pluginFolder, testPlugin } from './helpers/plugins.js';
import { Random, testSeed } from './helpers/random.js';

const SEED = testSeed();
const ITERATIONS = 150;

let native: FramingRegistry;

before(async () => {
  native = await loadFramings(BUILT_PLUGINS);
});

function cPlugin(name: string): FramingDefinition {
  const definition = native.get(name);
  assert.ok(definition !== undefined, `build/plugins registers ${name}`);
  assert.notEqual(definition, createFramingRegistry().get(name), `${name} from the plugin is not the builtin`);
  return definition;
}

/** What feeding gives, or the failure, so that failing streams compare too. */
function outcome(framing: FramingDefinition, config: string | null, chunks: readonly Uint8Array[]): Framed | 'fails' {
  try {
    return feed(framing, config, chunks);
  } catch (error) {
    // The TS builtins throw on a bad config; the C plugins return -1, which the framer turns into
    // a FramingFailure. Either way the connection closes with 1011.
    assert.ok(error instanceof Error, String(error));
    return 'fails';
  }
}

type Splits = (random: Random, stream: Buffer) => [string, Buffer[]][];

/**
 * Long-run streams are too long to feed through koffi a byte at a time 150 times over
 * (json-long-runs.test.ts holds the builtin to its byte-wise scan): whole, in random splits,
 * and in a peer's 64 KiB reads.
 */
const LONG_RUN_SPLITS: Splits = (random, stream) => [...splits(random, stream).filter(([how]) => how !== '1-byte reads'), ['64 KiB reads', peerReads(stream)]];

function assertSame(name: string, builtin: FramingDefinition, config: string | null, sample: (random: Random) => Buffer, cuts: Splits = splits): void {
  const c = cPlugin(name);
  const random = new Random(SEED);
  for (let iteration = 0; iteration < ITERATIONS; iteration++) {
    const stream = sample(random);
    for (const [how, chunks] of cuts(random, stream)) {
      const where = `${name} ${JSON.stringify(config)}, iteration ${iteration}, ${how}, TEST_SEED=${SEED}`;
      assert.deepEqual(outcome(c, config, chunks), outcome(builtin, config, chunks), where);
    }
  }
}

/** Bytes that make and break JSON: the scanner's every state, valid or not, in any order. */
const JSON_PIECES = ['{', '}', '[', ']', ',', ':', '"', '\\', '\\u00e9', '\\n', 'true', 'nul', '-', '0', '12', '.5', 'e+3', ' ', '\n', 'é', '😀']
  .map((piece) => Buffer.from(piece))
  .concat([Buffer.from([0xff]), Buffer.from([0xc3]), Buffer.from([0xed, 0xa0, 0x80]), Buffer.from([0x01])]);

describe('C framing plugins frame exactly like the TS builtins', () => {
  for (const [config, length] of [['1', 1], ['7', 7], ['0x10', 16], [' 010 ', 8]] as const) {
    test(`fixedlength ${JSON.stringify(config)}`, () => {
      assertSame('fixedlength', fixedlengthFraming, config, (random) => fixedlengthSample(random, length).stream);
    });
  }

  test('fixedlength "0" sends each read', () => {
    assertSame('fixedlength', fixedlengthFraming, '0', (random) => random.bytes(random.int(1, 500)));
  });

  const layouts: [string | null, number, number, boolean][] = [
    [null, 0, 0, false],
    ['endian=big', 0, 0, true],
    ['offset=2,static=1,endian=big', 2, 1, true],
    [' offset = 3 , static = -2 ', 3, -2, false],
    ['static=0x10,endian=little', 0, 16, false],
  ];
  for (const [config, offset, extra, bigEndian] of layouts) {
    test(`dynamic32 ${JSON.stringify(config)}`, () => {
      assertSame('dynamic32', dynamic32Framing, config, (random) => dynamic32Sample(random, offset, extra, bigEndian).stream);
    });
  }

  test('dynamic32: lengths shorter than the header fail in both', () => {
    assertSame('dynamic32', dynamic32Framing, 'static=-6', (random) => random.bytes(random.int(4, 200)));
  });

  test('json: valid streams', () => {
    assertSame('json', jsonFraming, null, (random) => jsonSample(random).stream);
  });

  test('json: streams of JSON fragments and invalid bytes', () => {
    assertSame('json', jsonFraming, null, (random) => pieceStream(random, JSON_PIECES));
  });

  test('json: long digit and string runs (skipped in bulk by both), valid and with adversarial bytes in them', () => {
    assertSame('json', jsonFraming, null, (random) => (random.chance(0.5) ? longRunStream(random).stream : adversarialLongRunStream(random)), LONG_RUN_SPLITS);
  });

  test('bad configs fail in both', () => {
    const data = [Buffer.from('0123456789abcdef')];
    const cases: [string, FramingDefinition, (string | null)[]][] = [
      ['fixedlength', fixedlengthFraming, [null, '', 'abc', '12abc', '-1', '08', '0x', '1.5']],
      ['dynamic32', dynamic32Framing, ['offset=1,offset=2', 'size=4', 'offset=x', 'static=', 'offset=-1', 'endian=middle', 'endian=Big', 'offset', 'offset=1,']],
    ];
    for (const [name, builtin, configs] of cases) {
      for (const config of configs) {
        assert.equal(outcome(cPlugin(name), config, data), 'fails', `${name} ${JSON.stringify(config)} in C`);
        assert.equal(outcome(builtin, config, data), 'fails', `${name} ${JSON.stringify(config)} in TS`);
      }
    }
  });
});

describe('C framing state', () => {
  test('the close call frees each connection\'s state', async () => {
    const folder = pluginFolder([testPlugin('framing_counted.so')]);
    try {
      const counted = (await loadFramings(folder.path)).get('counted');
      assert.ok(counted !== undefined);
      const live = (await nativeHost()).open(testPlugin('framing_counted.so')).func('int counted_live(void)') as () => number;
      const before = live();
      const framed = [1, 2, 3].map(() => feed(counted, null, [Buffer.from('abc'), Buffer.from('d')]));
      assert.deepEqual(framed.map((result) => result.frames.length), [4, 4, 4]);
      assert.equal(live(), before, 'every state freed');
    } finally {
      folder.remove();
    }
  });

  test('a C function may call a JS builtin it got from core_framing', async () => {
    const folder = pluginFolder([testPlugin('framing_delegate.so')]);
    try {
      const delegate = (await loadFramings(folder.path)).get('delegate');
      assert.ok(delegate !== undefined);
      const newline = createFramingRegistry().get('newline');
      assert.ok(newline !== undefined);
      const chunks = [Buffer.from('one\ntw'), Buffer.from('o\n\xff\n'), Buffer.from('rest')];
      assert.deepEqual(feed(delegate, 'lf', chunks), feed(newline, 'lf', chunks));
      assert.throws(() => feed(delegate, 'nl', chunks), FramingFailure, 'the builtin\'s config error reaches C as -1');
    } finally {
      folder.remove();
    }
  });
});
