/*
 * Frames a client sends after a good handshake, good and bad: every length encoding (7-bit,
 * 16-bit, 64-bit, shortest or not, declared up to 2^64-1), reserved bits and opcodes,
 * fragmented control frames, continuations without a start, close frames with bad codes and
 * payloads (one byte, invalid UTF-8 reasons, over 125 bytes), invalid UTF-8 text, unmasked
 * frames, messages over max-message, pings and pongs of every size.
 */
import type { Random } from '../test/helpers/random.js';
import { defaultCoreConfig } from '../src/config/core-options.js';
import { closePayload, encodeFrame, Opcode, type FrameSpec } from './ws-frame.js';

export interface MenuFrames {
  /** What was chosen, e.g. `close:1005+invalid-utf8`. */
  readonly name: string;
  readonly bytes: Buffer;
}

const MAX_MESSAGE = defaultCoreConfig.maxMessage;
/** The /chat relay's own limit (src/http/ws-relay.ts): it does not follow max-message. */
const RELAY_MAX_MESSAGE = 16 * 1024 * 1024;

const INVALID_UTF8: readonly number[][] = [
  [0xff], [0xc0, 0x80], [0xed, 0xa0, 0x80], [0xf4, 0x90, 0x80, 0x80], [0xe2, 0x82], [0x80], [0xf8, 0x88, 0x80, 0x80, 0x80], [0xc3, 0x28], [0xef, 0xbf],
];

const CLOSE_CODES = [0, 1, 999, 1000, 1001, 1002, 1003, 1004, 1005, 1006, 1007, 1011, 1012, 1014, 1015, 1016, 2000, 2999, 3000, 3999, 4000, 4999, 5000, 65535];

export function validUtf8(random: Random, bytes: number): Buffer {
  const pieces: Buffer[] = [];
  let length = 0;
  while (length < bytes) {
    const piece = Buffer.from(random.pick(['a', 'websocksy ', 'é', '€', '😀', '\u0000', '\u007f']), 'utf8');
    if (length + piece.length > bytes) break;
    pieces.push(piece);
    length += piece.length;
  }
  pieces.push(Buffer.alloc(bytes - length, 0x61));
  return Buffer.concat(pieces);
}

export function invalidUtf8(random: Random, bytes: number): Buffer {
  const bad = Buffer.from(random.pick(INVALID_UTF8));
  const text = validUtf8(random, Math.max(0, bytes - bad.length));
  const at = random.int(0, text.length);
  // Anywhere, even inside a character of the text around it: the message is invalid either way.
  return Buffer.concat([text.subarray(0, at), bad, text.subarray(at)]);
}

function mask(random: Random): Buffer | null {
  if (random.chance(0.08)) return null;
  return random.chance(0.1) ? Buffer.alloc(4) : random.bytes(4);
}

function frame(random: Random, opcode: number, payload: Buffer, overrides: Partial<FrameSpec> = {}): Buffer {
  return encodeFrame({ fin: true, rsv: 0, opcode, mask: mask(random), payload, encoding: null, ...overrides });
}

function dataSize(random: Random): number {
  return random.pick([0, 1, 2, 125, 126, 127, 1000, 65535, 65536, 70_000]);
}

type Maker = (random: Random) => MenuFrames;

const data: Maker = (random) => {
  const text = random.chance(0.5);
  const size = dataSize(random);
  return { name: `${text ? 'text' : 'binary'}:${size}`, bytes: frame(random, text ? Opcode.text : Opcode.binary, text ? validUtf8(random, size) : random.bytes(size)) };
};

const badText: Maker = (random) => {
  const size = dataSize(random);
  return { name: `text-invalid-utf8:${size}`, bytes: frame(random, Opcode.text, invalidUtf8(random, Math.max(1, size))) };
};

const fragmented: Maker = (random) => {
  const text = random.chance(0.5);
  const pieces = random.int(2, 5);
  const whole = text ? (random.chance(0.7) ? validUtf8(random, random.int(pieces, 3000)) : invalidUtf8(random, random.int(pieces, 3000))) : random.bytes(random.int(pieces, 3000));
  const cuts = Array.from({ length: pieces - 1 }, () => random.int(0, whole.length)).sort((a, b) => a - b);
  const bounds = [0, ...cuts, whole.length];
  const frames: Buffer[] = [];
  const pingBetween = random.chance(0.4);
  for (let i = 0; i < pieces; i++) {
    const opcode = i === 0 ? (text ? Opcode.text : Opcode.binary) : Opcode.continuation;
    frames.push(frame(random, opcode, whole.subarray(bounds[i], bounds[i + 1]), { fin: i === pieces - 1 }));
    if (pingBetween && i === 0) frames.push(frame(random, Opcode.ping, random.bytes(random.int(0, 125))));
  }
  return { name: `fragmented:${text ? 'text' : 'binary'}x${pieces}${pingBetween ? '+ping' : ''}`, bytes: Buffer.concat(frames) };
};

const badSequence: Maker = (random) => {
  const variant = random.pick(['continuation-without-start', 'start-after-start', 'final-continuation-alone', 'control-fragmented']);
  const payload = random.bytes(random.int(0, 200));
  switch (variant) {
    case 'continuation-without-start':
      return { name: variant, bytes: frame(random, Opcode.continuation, payload, { fin: random.chance(0.5) }) };
    case 'start-after-start':
      return { name: variant, bytes: Buffer.concat([frame(random, Opcode.text, Buffer.from('abc'), { fin: false }), frame(random, Opcode.binary, payload)]) };
    case 'final-continuation-alone':
      return { name: variant, bytes: Buffer.concat([frame(random, Opcode.continuation, payload), frame(random, Opcode.continuation, payload)]) };
    default: {
      const opcode = random.pick([Opcode.ping, Opcode.pong, Opcode.close]);
      return { name: `${variant}:${opcode}`, bytes: Buffer.concat([frame(random, opcode, payload.subarray(0, 60), { fin: false }), frame(random, Opcode.continuation, payload.subarray(0, 60))]) };
    }
  }
};

const reservedOpcode: Maker = (random) => {
  const opcode = random.pick([3, 4, 5, 6, 7, 11, 12, 13, 14, 15]);
  return { name: `reserved-opcode:${opcode}`, bytes: frame(random, opcode, random.bytes(random.int(0, 200))) };
};

const reservedBits: Maker = (random) => {
  const rsv = random.int(1, 7);
  const opcode = random.pick([Opcode.text, Opcode.binary, Opcode.ping, Opcode.close]);
  const payload = opcode === Opcode.close ? closePayload(1000) : Buffer.from('rsv');
  return { name: `rsv:${rsv}:op${opcode}`, bytes: frame(random, opcode, payload, { rsv }) };
};

const close: Maker = (random) => {
  const variant = random.pick(['empty', 'one-byte', 'code', 'code', 'code+reason', 'code+invalid-utf8', 'code+123', 'code+124', 'too-long']);
  const code = random.pick(CLOSE_CODES);
  const payloads: Record<string, () => Buffer> = {
    empty: () => Buffer.alloc(0),
    'one-byte': () => random.bytes(1),
    code: () => closePayload(code),
    'code+reason': () => closePayload(code, validUtf8(random, random.int(1, 100))),
    'code+invalid-utf8': () => closePayload(code, invalidUtf8(random, random.int(1, 60))),
    'code+123': () => closePayload(code, validUtf8(random, 123)),
    'code+124': () => closePayload(code, Buffer.alloc(124, 0x61)),
    'too-long': () => closePayload(code, Buffer.alloc(random.pick([124, 200, 1000]), 0x61)),
  };
  return { name: `close:${variant}:${code}`, bytes: frame(random, Opcode.close, (payloads[variant] as () => Buffer)()) };
};

const pingPong: Maker = (random) => {
  const opcode = random.chance(0.5) ? Opcode.ping : Opcode.pong;
  const size = random.chance(0.8) ? random.pick([0, 1, 124, 125, random.int(0, 125)]) : random.pick([126, 127, 1000, 65536]);
  return { name: `${opcode === Opcode.ping ? 'ping' : 'pong'}:${size}`, bytes: frame(random, opcode, random.bytes(size)) };
};

const oversized: Maker = (random) => {
  const variant = random.pick(['just-over', 'twice-over', 'fragments-over']);
  const opcode = random.pick([Opcode.binary, Opcode.text]);
  const fill = (n: number): Buffer => Buffer.alloc(n, opcode === Opcode.text ? 0x61 : random.int(0, 255));
  if (variant === 'just-over') return { name: `oversized:${MAX_MESSAGE + 1}`, bytes: frame(random, opcode, fill(MAX_MESSAGE + random.int(1, 1000))) };
  if (variant === 'twice-over') return { name: `oversized:${2 * MAX_MESSAGE + 1}`, bytes: frame(random, opcode, fill(2 * MAX_MESSAGE + 1)) };
  const half = Math.ceil(MAX_MESSAGE / 2) + 1;
  return { name: 'oversized:fragments', bytes: Buffer.concat([frame(random, opcode, fill(half), { fin: false }), frame(random, Opcode.continuation, fill(half))]) };
};

const declaredLength: Maker = (random) => {
  const declared = random.pick([125n, 126n, 65535n, 65536n, 2n ** 31n, 2n ** 32n, 2n ** 32n + 1n, 2n ** 53n, 2n ** 63n, 2n ** 64n - 1n, BigInt(MAX_MESSAGE), BigInt(MAX_MESSAGE + 1), BigInt(RELAY_MAX_MESSAGE + 1)]);
  const encoding = declared <= 125n && random.chance(0.5) ? '7' : declared <= 0xffffn && random.chance(0.5) ? '16' : '64';
  const payload = random.bytes(random.int(0, 64));
  return { name: `declared:${declared}/${encoding}-bit/sent ${payload.length}`, bytes: frame(random, random.pick([Opcode.binary, Opcode.text, Opcode.ping, Opcode.close]), payload, { declared, encoding }) };
};

const longEncoding: Maker = (random) => {
  const size = random.pick([0, 1, 125, 126, 1000, 65535]);
  const encoding = size > 125 || random.chance(0.5) ? '64' : '16';
  return { name: `non-minimal:${size}/${encoding}-bit`, bytes: frame(random, random.pick([Opcode.binary, Opcode.text, Opcode.ping]), Buffer.alloc(size, 0x62), { encoding }) };
};

const unmasked: Maker = (random) => ({ name: 'unmasked', bytes: encodeFrame({ fin: true, rsv: 0, opcode: Opcode.binary, mask: null, payload: random.bytes(random.int(0, 300)), encoding: null }) });

const MENU: ReadonlyArray<readonly [Maker, number]> = [
  [data, 6], [badText, 3], [fragmented, 3], [badSequence, 3], [reservedOpcode, 2], [reservedBits, 2], [close, 4], [pingPong, 4],
  [oversized, 1], [declaredLength, 3], [longEncoding, 2], [unmasked, 2],
];
const WEIGHT = MENU.reduce((sum, [, weight]) => sum + weight, 0);

/** One pick from the menu, weighted. */
export function menuFrames(random: Random): MenuFrames {
  let roll = random.int(1, WEIGHT);
  for (const [maker, weight] of MENU) {
    roll -= weight;
    if (roll <= 0) return maker(random);
  }
  return data(random);
}
