/*
 * The builtin framing functions, driven through the real PeerFramer. Randomized streams must
 * frame identically however the peer's reads split them; the unit cases pin the config errors
 * and the original's bugs that must stay fixed (NOTES 1.13, 1.14). Failures print the seed:
 * TEST_SEED=<seed> replays them.
 */
import assert from 'node:assert/strict';
import { isUtf8 } from 'node:buffer';
import { describe, test } from 'node:test';
import { WsCloseCode, WsOperation, type FramingContext, type FramingDefinition, type FramingFunction } from '../src/core/api.js';
import { FramingFailure } from '../src/core/framer.js';
import { autoFraming } from '../src/framing/auto.js';
import { binaryFraming } from '../src/framing/binary.js';
import { dynamic32Framing } from '../src/framing/dynamic32.js';
import { fixedlengthFraming } from '../src/framing/fixedlength.js';
import { builtinFramings, createFramingRegistry } from '../src/framing/index.js';
import { jsonFraming } from '../src/framing/json.js';
import { newlineFraming } from '../src/framing/newline.js';
import { separatorFrameLength } from '../src/framing/find-separator.js';
import { separatorFraming } from '../src/framing/separator.js';
import {
  binary,
  dynamic32Sample,
  feed,
  feedStrings,
  fixedlengthSample,
  jsonSample,
  pieceStream,
  splitAt,
  splits,
  text,
  utf8Opcode,
  type Framed,
} from './helpers/framing-streams.js';
import { Random, testSeed } from './helpers/random.js';

const SEED = testSeed();
const ITERATIONS = 200;

// ---------------------------------------------------------------------------------------------
// Property tests

interface Sample {
  readonly stream: Buffer;
  /** The reference framing, when the test can compute one independently. */
  readonly expected?: Framed;
}

interface BoundaryCase {
  readonly framing: FramingDefinition;
  readonly config: string | null;
  readonly sample: (random: Random) => Sample;
}

function assertSplitInvariant({ framing, config, sample }: BoundaryCase): void {
  const random = new Random(SEED);
  for (let iteration = 0; iteration < ITERATIONS; iteration++) {
    const { stream, expected } = sample(random);
    const where = `${framing.name} ${JSON.stringify(config)}, iteration ${iteration}, TEST_SEED=${SEED}`;
    const whole = feed(framing, config, [stream]);
    if (expected !== undefined) assert.deepEqual(whole, expected, `${where}: whole stream against the reference`);
    for (const [how, chunks] of splits(random, stream)) {
      assert.deepEqual(feed(framing, config, chunks), whole, `${where}: ${how} (${chunks.length} reads)`);
    }
  }
}

/** For functions whose messages are the reads themselves: each read becomes one message. */
function assertFollowsReads(framing: FramingDefinition, config: string | null, opcodeOf: (frame: Uint8Array) => WsOperation): void {
  const random = new Random(SEED);
  const pieces = [Buffer.from('plain text '), Buffer.from('é€😀'), Buffer.from([0xff]), Buffer.from([0xc3]), Buffer.from([0xed, 0xa0, 0x80])];
  for (let iteration = 0; iteration < ITERATIONS; iteration++) {
    const stream = pieceStream(random, pieces);
    const where = `${framing.name} ${JSON.stringify(config)}, iteration ${iteration}, TEST_SEED=${SEED}`;
    for (const [how, chunks] of splits(random, stream)) {
      const expected = chunks.map((chunk) => ({ bytes: Buffer.from(chunk), opcode: opcodeOf(chunk) }));
      assert.deepEqual(feed(framing, config, chunks), { frames: expected, pending: 0 }, `${where}: ${how}`);
    }
  }
}

function separatorCase(framing: FramingDefinition, config: string | null, separator: string, pieces: readonly string[], opcodeOf: (frame: Buffer) => WsOperation): BoundaryCase {
  const bytes = Buffer.from(separator, 'latin1');
  const pieceBuffers = pieces.map((piece) => Buffer.from(piece));
  return {
    framing,
    config,
    sample: (random) => {
      const stream = pieceStream(random, pieceBuffers);
      return { stream, expected: splitAt(stream, bytes, opcodeOf) };
    },
  };
}

function fixedlengthCase(config: string, length: number): BoundaryCase {
  return { framing: fixedlengthFraming, config, sample: (random) => fixedlengthSample(random, length) };
}

function dynamic32Case(config: string | null, offset: number, extra: number, bigEndian: boolean): BoundaryCase {
  return { framing: dynamic32Framing, config, sample: (random) => dynamic32Sample(random, offset, extra, bigEndian) };
}

describe('framing is the same however the reads split the stream', () => {
  const newlinePieces = ['\r', '\n', '\r\n', 'line', 'é', '€', '\xff'];
  const cases: BoundaryCase[] = [
    separatorCase(separatorFraming, '\\0', '\0', ['\0', 'ab', 'c'], () => WsOperation.binary),
    separatorCase(separatorFraming, '\\r\\n\\x2e', '\r\n.', ['\r', '\n', '.', '\r\n', '\r\n.', 'x', 'é'], () => WsOperation.binary),
    // Self-overlapping: in "aaab" the separator starts at the second a.
    separatorCase(separatorFraming, 'aab', 'aab', ['a', 'aa', 'b', 'c'], () => WsOperation.binary),
    separatorCase(newlineFraming, 'crlf', '\r\n', newlinePieces, utf8Opcode),
    separatorCase(newlineFraming, 'lf', '\n', newlinePieces, utf8Opcode),
    separatorCase(newlineFraming, 'cr', '\r', newlinePieces, utf8Opcode),
    separatorCase(newlineFraming, 'lfcr', '\n\r', newlinePieces, utf8Opcode),
    fixedlengthCase('1', 1),
    fixedlengthCase('7', 7),
    fixedlengthCase('0x10', 16),
    dynamic32Case(null, 0, 0, false),
    dynamic32Case('endian=big', 0, 0, true),
    dynamic32Case('offset=2,static=1,endian=big', 2, 1, true),
    dynamic32Case(' offset = 3 , static = -2 ', 3, -2, false),
    dynamic32Case('static=0x10,endian=little', 0, 16, false),
    { framing: jsonFraming, config: null, sample: jsonSample },
  ];
  for (const boundaryCase of cases) {
    test(`${boundaryCase.framing.name} ${JSON.stringify(boundaryCase.config)}`, () => assertSplitInvariant(boundaryCase));
  }
  test('auto: each read is one message, text exactly when it is valid UTF-8', () => assertFollowsReads(autoFraming, null, utf8Opcode));
  test('binary: each read is one binary message', () => assertFollowsReads(binaryFraming, null, () => WsOperation.binary));
  test('fixedlength 0: each read is one binary message', () => assertFollowsReads(fixedlengthFraming, '0', () => WsOperation.binary));
  test('separator "": each read is one binary message', () => assertFollowsReads(separatorFraming, '', () => WsOperation.binary));
});

// ---------------------------------------------------------------------------------------------
// Unit cases

function assertConfigError(framing: FramingDefinition, config: string | null, message: RegExp): void {
  assert.ok(framing.checkConfig !== undefined, `${framing.name} has a checkConfig`);
  assert.throws(() => framing.checkConfig?.(config), message, `${framing.name} config ${JSON.stringify(config)}`);
}

function assertConfigAccepted(framing: FramingDefinition, config: string | null): void {
  assert.doesNotThrow(() => framing.checkConfig?.(config), `${framing.name} config ${JSON.stringify(config)}`);
}

describe('auto and binary', () => {
  test('auto sends text only for strictly valid UTF-8', () => {
    assert.deepEqual(feedStrings(autoFraming, null, 'héllo €').frames, text('héllo €'));
    for (const invalid of [[0xff], [0xc0, 0x80], [0xed, 0xa0, 0x80], [0xf4, 0x90, 0x80, 0x80], [0x61, 0xc3]]) {
      const bytes = Buffer.from(invalid);
      assert.deepEqual(feed(autoFraming, null, [bytes]).frames, binary(bytes), `bytes ${bytes.toString('hex')}`);
    }
  });

  test('auto: empty data is text, and nothing is framed', () => {
    const ctx: FramingContext = { opcode: WsOperation.binary, state: null, config: null };
    assert.equal(autoFraming.frame(new Uint8Array(0), 0, ctx), 0);
    assert.equal(ctx.opcode, WsOperation.text);
  });

  test('binary sends everything as binary, even text', () => {
    assert.deepEqual(feedStrings(binaryFraming, null, 'abc', 'é').frames, binary('abc', 'é'));
  });

  test('framings without a config refuse one', () => {
    for (const framing of [autoFraming, binaryFraming, jsonFraming]) {
      assertConfigAccepted(framing, null);
      assertConfigError(framing, 'x', new RegExp(`${framing.name} takes no framing-config, but got "x"`));
      assertConfigError(framing, '', /takes no framing-config/);
    }
  });
});

describe('separator', () => {
  test('a missing config is an error, not a crash', () => {
    assertConfigError(separatorFraming, null, /separator needs a framing-config.*\\r\\n/);
  });

  test('malformed escapes are errors naming the escape', () => {
    assertConfigError(separatorFraming, 'x\\ay', /unknown escape \\a at position 1; accepted escapes are \\r \\t \\n \\0 \\f \\\\ \\xHH/);
    assertConfigError(separatorFraming, '\\x', /\\x at position 0 needs two hex digits/);
    assertConfigError(separatorFraming, '\\x4', /needs two hex digits/);
    assertConfigError(separatorFraming, '\\xg1', /needs two hex digits/);
    assertConfigError(separatorFraming, 'ab\\', /lone \\ at the end/);
  });

  test('\\xHH reads both hex digits', () => {
    assertConfigAccepted(separatorFraming, '\\x41');
    assert.deepEqual(feedStrings(separatorFraming, '\\x41', 'xxAyyA!').frames, binary('xxA', 'yyA'));
    assert.deepEqual(feedStrings(separatorFraming, '\\xfF', Buffer.from([1, 0xff, 2])).frames, binary(Buffer.from([1, 0xff])));
  });

  test('every escape stands for its byte; other characters for their UTF-8', () => {
    const separator = Buffer.from([0x0d, 0x09, 0x0a, 0x00, 0x0c, 0x5c, 0xc3, 0xa9]);
    const stream = Buffer.concat([Buffer.from('a'), separator, Buffer.from('b')]);
    assert.deepEqual(feed(separatorFraming, '\\r\\t\\n\\0\\f\\\\é', [stream]), { frames: binary(stream.subarray(0, -1)), pending: 1 });
  });

  test('a separator split across reads is found', () => {
    assert.deepEqual(feedStrings(separatorFraming, '\\r\\n', 'one\r', '\ntwo\r', '\n'), { frames: binary('one\r\n', 'two\r\n'), pending: 0 });
    assert.deepEqual(feedStrings(separatorFraming, '<>|', 'a<', '>', '|b<>', '|').frames, binary('a<>|', 'b<>|'));
  });

  test('several separators in one read make several messages', () => {
    assert.deepEqual(feedStrings(separatorFraming, ';', 'a;b;;c'), { frames: binary('a;', 'b;', ';'), pending: 1 });
  });

  test('an empty separator sends everything', () => {
    assert.deepEqual(feedStrings(separatorFraming, '', 'abc', 'd').frames, binary('abc', 'd'));
  });
});

describe('newline', () => {
  test('accepts crlf, lfcr, lf, cr, and no config (crlf)', () => {
    for (const config of ['crlf', 'lfcr', 'lf', 'cr', null]) assertConfigAccepted(newlineFraming, config);
    assert.deepEqual(feedStrings(newlineFraming, null, 'a\nb\r\nc').frames, text('a\nb\r\n'));
  });

  test('any other config is an error listing the accepted ones', () => {
    for (const config of ['CRLF', 'lf ', '', 'nl']) {
      assertConfigError(newlineFraming, config, /is not a line end; use one of crlf \(the default\), lfcr, lf, cr/);
    }
  });

  test('each line is text when valid UTF-8, else binary; the opcode does not stick', () => {
    const stream = Buffer.concat([Buffer.from('ok\n'), Buffer.from([0xff, 0x0a]), Buffer.from('é\n')]);
    assert.deepEqual(feed(newlineFraming, 'lf', [stream]).frames, [...text('ok\n'), ...binary(Buffer.from([0xff, 0x0a])), ...text('é\n')]);
  });

  test('a line end split across reads is found', () => {
    assert.deepEqual(feedStrings(newlineFraming, 'crlf', 'a\r', '\nb\r', '\r\n').frames, text('a\r\n', 'b\r\r\n'));
  });
});

describe('fixedlength', () => {
  test('a missing or non-numeric config is an error', () => {
    assertConfigError(fixedlengthFraming, null, /fixedlength needs a framing-config: the message length in bytes/);
    for (const config of ['', 'abc', '12abc', '-1', '08', '0x', '1.5']) {
      assertConfigError(fixedlengthFraming, config, new RegExp(`"${config}" is not a length; give a byte count, decimal \\(16\\), hex \\(0x10\\) or octal \\(020\\)`));
    }
  });

  test('reads hex, octal and decimal like strtoul, blanks around allowed', () => {
    const stream = Buffer.from('abcdefghijklmnopqrstuvwxyz0123456789');
    for (const [config, length] of [[' 0x10 ', 16], ['0X1f', 31], ['010', 8], ['\t9\n', 9], ['+5', 5]] as const) {
      const { frames } = feed(fixedlengthFraming, config, [stream]);
      assert.equal(frames[0]?.bytes.length, length, `config ${JSON.stringify(config)}`);
    }
  });

  test('waits until N bytes are there', () => {
    assert.deepEqual(feedStrings(fixedlengthFraming, '3', 'a', 'bcd', 'ef'), { frames: binary('abc', 'def'), pending: 0 });
  });
});

function u32(value: number, bigEndian: boolean): Buffer {
  const out = Buffer.alloc(4);
  if (bigEndian) out.writeUInt32BE(value);
  else out.writeUInt32LE(value);
  return out;
}

describe('dynamic32', () => {
  test('offset=2,static=1,endian=big: commas work (the original spun forever)', () => {
    assertConfigAccepted(dynamic32Framing, 'offset=2,static=1,endian=big');
    const message = Buffer.concat([Buffer.from('hh'), u32(3, true), Buffer.from('sxyz')]);
    assert.deepEqual(feed(dynamic32Framing, 'offset=2,static=1,endian=big', [message, Buffer.from('h')]), { frames: binary(message), pending: 1 });
  });

  test('no config, or an empty one, means offset 0, static 0, little endian', () => {
    const message = Buffer.concat([u32(2, false), Buffer.from('ab')]);
    for (const config of [null, '', '  ']) {
      assertConfigAccepted(dynamic32Framing, config);
      assert.deepEqual(feed(dynamic32Framing, config, [message]).frames, binary(message));
    }
  });

  test('bad configs are errors naming the item', () => {
    const errors: [string, RegExp][] = [
      ['offset=1,offset=2', /offset is given twice/],
      ['size=4', /unknown key "size"; accepted items are offset=<n>, static=<n>, endian=big\|little/],
      ['offset=x', /offset "x" is not a number; write it decimal/],
      ['static=', /static "" is not a number/],
      ['offset=-1', /offset must not be negative/],
      ['endian=middle', /endian must be big or little, not "middle"/],
      ['endian=Big', /endian must be big or little/],
      ['offset', /item "offset" is not key=value/],
      ['offset=1,', /item "" is not key=value/],
    ];
    for (const [config, message] of errors) assertConfigError(dynamic32Framing, config, message);
  });

  test('a length field split across reads is waited for', () => {
    const message = Buffer.concat([Buffer.from('.'), u32(0x102, false), Buffer.alloc(0x102, 7)]);
    const chunks = [message.subarray(0, 2), message.subarray(2, 4), message.subarray(4, 100), message.subarray(100)];
    assert.deepEqual(feed(dynamic32Framing, 'offset=1', chunks), { frames: binary(message), pending: 0 });
  });

  test('lengths do not wrap at 2^32', () => {
    const ctx: FramingContext = { opcode: WsOperation.binary, state: null, config: 'static=2' };
    const data = Buffer.concat([u32(0xffffffff, false), Buffer.alloc(8)]);
    assert.equal(dynamic32Framing.frame(data, data.length, ctx), 0);
  });

  test('a length shorter than the header is unframeable: 1011', () => {
    const data = Buffer.concat([u32(1, false), Buffer.alloc(8)]);
    assertFramingFailure(() => feed(dynamic32Framing, 'static=-2', [data]), WsCloseCode.unexpected, /returned -1/);
  });
});

describe('json', () => {
  test('strings hold any UTF-8 and any escape; "\\\\" ends the string', () => {
    const values = ['"\\\\"', '"\\u00e9"', '"é€😀"', '"\\"\\\\\\/\\b\\f\\n\\r\\t\\uD83D\\ude00"', '{"k\\"ey":["\\\\",1]}'];
    assert.deepEqual(feedStrings(jsonFraming, null, values.join('')), { frames: text(...values), pending: 0 });
  });

  test('values of every kind, nested, with the blanks before them', () => {
    const values = [' {"a": [1, -2.5e+3, true, false, null, {}, []]}', '\n[[[[]]]]', ' "s"', ' true', ' 0', '\t-0.0E-1', ' null'];
    assert.deepEqual(feedStrings(jsonFraming, null, `${values.join('')} `), { frames: text(...values), pending: 1 });
  });

  test('a number at the end of the data waits for the next read', () => {
    assert.deepEqual(feedStrings(jsonFraming, null, '12'), { frames: [], pending: 2 });
    assert.deepEqual(feedStrings(jsonFraming, null, '12', '3', '\n'), { frames: text('123'), pending: 1 });
    assert.deepEqual(feedStrings(jsonFraming, null, '[1', '2]'), { frames: text('[12]'), pending: 0 });
  });

  test('incomplete values and blanks wait', () => {
    for (const partial of ['{', '{"a"', '{"a":', '[1,', '"abc', '"\\', '"\\u00', '"\xc3', 'tru', '-', '1.', '1e', '1e+', '  \n']) {
      const data = Buffer.from(partial, partial.includes('\xc3') ? 'latin1' : 'utf8');
      assert.deepEqual(feed(jsonFraming, null, [data]), { frames: [], pending: data.length }, JSON.stringify(partial));
    }
    assert.deepEqual(feedStrings(jsonFraming, null, 'tru', 'e').frames, text('true'));
  });

  test('invalid input is flushed as one binary message, and the next value is text again', () => {
    const invalid = ['[1,]', '{"a" 1}', '{,}', '[}', '01', '1.2.3', '-x', '"a\nb"', '"\\x"', '"\\u12G4"', '"\\u123"', 'nul!', '{1:2}', ']', '"\x01"'];
    for (const input of invalid) {
      assert.deepEqual(feedStrings(jsonFraming, null, input, ' "ok"'), { frames: [...binary(input), ...text(' "ok"')], pending: 0 }, JSON.stringify(input));
    }
  });

  test('invalid UTF-8 in a string is invalid input', () => {
    const invalid = [[0xff], [0xc0, 0xaf], [0xe0, 0x80, 0x80], [0xed, 0xa0, 0x80], [0xf0, 0x80, 0x80, 0x80], [0xf4, 0x90, 0x80, 0x80], [0xf5, 0x80, 0x80, 0x80], [0xc3, 0x41]];
    for (const bytes of invalid) {
      const input = Buffer.concat([Buffer.from('"'), Buffer.from(bytes), Buffer.from('"')]);
      assert.deepEqual(feed(jsonFraming, null, [input]).frames, binary(input), `bytes ${Buffer.from(bytes).toString('hex')}`);
    }
  });

  test('strings are valid exactly when their bytes are valid UTF-8 (against isUtf8)', () => {
    const random = new Random(SEED);
    // Lead bytes at the edges of the RFC 3629 ranges, continuation bytes at theirs, ASCII.
    const pool = [0x41, 0x7f, 0x80, 0x8f, 0x90, 0x9f, 0xa0, 0xbf, 0xc0, 0xc1, 0xc2, 0xdf, 0xe0, 0xe1, 0xec, 0xed, 0xee, 0xef, 0xf0, 0xf1, 0xf3, 0xf4, 0xf5, 0xff];
    for (let iteration = 0; iteration < ITERATIONS; iteration++) {
      const content = Buffer.from(Array.from({ length: random.int(1, 6) }, () => random.pick(pool)));
      const input = Buffer.concat([Buffer.from('"'), content, Buffer.from('"')]);
      const opcode = isUtf8(content) ? WsOperation.text : WsOperation.binary;
      assert.deepEqual(feed(jsonFraming, null, [input]).frames, [{ bytes: input, opcode }], `bytes ${content.toString('hex')}, TEST_SEED=${SEED}`);
    }
  });

  test('a number ends at the first byte that cannot continue it', () => {
    assert.deepEqual(feedStrings(jsonFraming, null, '123\n'), { frames: text('123'), pending: 1 });
    assert.deepEqual(feedStrings(jsonFraming, null, '-1.5e3{}'), { frames: text('-1.5e3', '{}'), pending: 0 });
  });

  test('the scan resumes across reads, and starts afresh when the data is not the old data grown', () => {
    const ctx: FramingContext = { opcode: WsOperation.binary, state: null, config: null };
    const first = Buffer.from('{"a":');
    assert.equal(jsonFraming.frame(first, first.length, ctx), 0);
    const grown = Buffer.from('{"a":1}');
    assert.equal(jsonFraming.frame(grown, 2, ctx), 7);
    assert.equal(jsonFraming.frame(first, first.length, ctx), 0);
    const other = Buffer.from('[1]');
    assert.equal(jsonFraming.frame(other, other.length, ctx), 3);
  });

  test('old bytes are not scanned again', () => {
    const ctx: FramingContext = { opcode: WsOperation.binary, state: null, config: null };
    assert.equal(jsonFraming.frame(Buffer.from('["a",'), 5, ctx), 0);
    // Same length of old bytes, other content: only the new `1]` is read, so it completes.
    assert.equal(jsonFraming.frame(Buffer.from('#####1]'), 2, ctx), 7);
    assert.equal(ctx.opcode, WsOperation.text);
  });
});

describe('framing state and the registry', () => {
  const configs = new Map<string, string | null>([
    ['separator', '\\n'],
    ['fixedlength', '4'],
    ['dynamic32', 'offset=1'],
  ]);

  test('the null call releases the state of every builtin', () => {
    for (const framing of builtinFramings) {
      const ctx: FramingContext = { opcode: WsOperation.binary, state: null, config: configs.get(framing.name) ?? null };
      framing.frame(Buffer.from('{"a"\n:'), 6, ctx);
      framing.frame(null, 0, ctx);
      assert.equal(ctx.state, null, framing.name);
    }
  });

  test('the registry holds every builtin, once, by name', () => {
    const registry = createFramingRegistry();
    const names = ['auto', 'binary', 'separator', 'newline', 'fixedlength', 'dynamic32', 'json'];
    assert.deepEqual(registry.names().sort(), [...names].sort());
    for (const framing of builtinFramings) assert.equal(registry.get(framing.name), framing);
  });
});

// ---------------------------------------------------------------------------------------------
// The framing loop's own checks

function assertFramingFailure(run: () => unknown, closeCode: WsCloseCode, message: RegExp, label = ''): void {
  assert.throws(run, (error: unknown) => {
    assert.ok(error instanceof FramingFailure, `${label}: a FramingFailure, not ${String(error)}`);
    assert.equal(error.closeCode, closeCode, label);
    assert.match(error.message, message, label);
    return true;
  });
}

function framingOf(frame: FramingFunction): FramingDefinition {
  return { name: 'test', frame };
}

describe('PeerFramer', () => {
  test('a length outside 1..available, or not an integer, closes with 1011', () => {
    const answers: [string, FramingFunction][] = [
      ['too much', (data) => (data?.length ?? 0) + 1],
      ['negative', () => -1],
      ['non-integer', () => 1.5],
      ['NaN', () => Number.NaN],
    ];
    for (const [what, frame] of answers) {
      const run = (): Framed => feed(framingOf(frame), null, [Buffer.from('abc')]);
      assertFramingFailure(run, WsCloseCode.unexpected, /framing "test" returned .* with 3 bytes available/, what);
    }
  });

  test('an opcode other than text, binary or discard closes with 1011', () => {
    const frame: FramingFunction = (data, _lastRead, ctx) => {
      ctx.opcode = 8 as WsOperation;
      return data?.length ?? 0;
    };
    assertFramingFailure(() => feed(framingOf(frame), null, [Buffer.from('abc')]), WsCloseCode.unexpected, /chose opcode 8, not text, binary or discard/);
  });

  test('unframed data beyond the limit closes with 1009', () => {
    assert.deepEqual(feed(fixedlengthFraming, '100', [Buffer.alloc(6), Buffer.alloc(4)], 10), { frames: [], pending: 10 });
    assertFramingFailure(() => feed(fixedlengthFraming, '100', [Buffer.alloc(6), Buffer.alloc(5)], 10), WsCloseCode.tooBig, /peer message over 10 bytes without a frame boundary \(framing "fixedlength"\)/);
  });

  test('the discard opcode drops the framed bytes', () => {
    // Drops a leading NUL byte, sends each other byte on its own.
    const frame: FramingFunction = (data, _lastRead, ctx) => {
      if (data === null) return 0;
      if (data[0] === 0) ctx.opcode = WsOperation.discard;
      return 1;
    };
    assert.deepEqual(feed(framingOf(frame), null, [Buffer.from('\0a\0'), Buffer.from('b\0')]), { frames: binary('a', 'b'), pending: 0 });
  });

  test('the opcode is reset to binary before every call', () => {
    const frame: FramingFunction = (data, _lastRead, ctx) => {
      if (data === null) return 0;
      if (data[0] === 0x74) ctx.opcode = WsOperation.text;
      return 1;
    };
    assert.deepEqual(feedStrings(framingOf(frame), null, 'tbt').frames, [...text('t'), ...binary('b'), ...text('t')]);
  });
});

test('the separator search works on plain Uint8Arrays and on views at an offset, as plugins may pass', () => {
  const bytes = Uint8Array.from(Buffer.from('xxab\r\ncd\r\n'));
  const crlf = Uint8Array.of(0x0d, 0x0a);
  assert.equal(separatorFrameLength(bytes, bytes.length, crlf), 6);
  const view = new Uint8Array(bytes.buffer, 2, 8);
  assert.equal(separatorFrameLength(view, view.length, crlf), 4);
  assert.equal(separatorFrameLength(view.subarray(4), 4, crlf), 4);
  assert.equal(separatorFrameLength(view.subarray(0, 3), 3, crlf), 0);
});
