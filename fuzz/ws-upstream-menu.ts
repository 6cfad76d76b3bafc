/*
 * What the scripted WebSocket upstream plays on one connection, and what the client must then
 * see. After its answer to the upgrade (ws-handshake-menu.ts), when that may be a 101:
 * - 0-6 steps of valid frames: text and binary messages of 0 bytes to 300 KB, some fragmented
 *   with a ping between the fragments, pings, unsolicited pongs;
 * - half the time, one violation: a masked frame, reserved bits or opcodes, a control frame over
 *   125 bytes or fragmented, a continuation with no start, a new message inside a fragmented
 *   one, invalid UTF-8 in a text message, a close of one byte, with a code that may not be sent
 *   or a reason that is not UTF-8, a declared length over 16 MiB with a few bytes sent; then a
 *   valid message that must never reach the client;
 * - an ending: a close frame with a code that may be sent (and a reason; now and then a message
 *   behind it, which must never reach the client) or none, a FIN, an RST, or silence.
 * All of it is cut into pieces with pauses of up to 300 ms. The client must get the valid
 * messages exactly and in order (text as text), and then: the upstream's code and reason after
 * its valid close; a close in the failure family (1002, 1007, 1009, 1011, 1014) or a cut after a
 * violation, a FIN or an RST; some ending after an empty close; nothing after silence (the
 * WebSocket is quiet, not over: the client closes it).
 */
import type { Random } from '../test/helpers/random.js';
import { invalidUtf8, validUtf8 } from './frame-menu.js';
import type { Step } from './scripted-upstream.js';
import type { WsUpstreamScript } from './scripted-ws-upstream.js';
import { pieces } from './upstream-menu.js';
import { drawHandshake, type DrawnHandshake } from './ws-handshake-menu.js';
import { closePayload, encodeFrame, Opcode, type FrameSpec, type WsMessage } from './ws-frame.js';

export type Ending =
  | { readonly kind: 'code'; readonly code: number; readonly reason: string }
  | { readonly kind: 'empty' }
  | { readonly kind: 'failure' }
  | { readonly kind: 'open' };

export interface DrawnWsScript {
  readonly script: WsUpstreamScript;
  readonly handshake: DrawnHandshake;
  /** The messages the client must get, in order, once it has a 101. */
  readonly messages: readonly WsMessage[];
  /** The last of them may be lost: an RST overtakes what was sent before it. */
  readonly prefixOnly: boolean;
  readonly ending: Ending;
  /** What was drawn, in a few words (the case's input). */
  readonly label: string;
}

/** The marker of a message sent after a violation or a close frame, which no client may ever see. */
export const AFTER_VIOLATION = 'AFTER-VIOLATION';
/** websocksy's limit for a relayed message (src/http/ws-relay.ts). */
const RELAY_MAX_MESSAGE = 16 * 1024 * 1024;
const FRAME_PAUSE_MS = 300;
const SENDABLE_CODES = [1000, 1000, 1001, 1003, 1007, 1008, 1011, 1012, 1013, 1014, 3000, 4000, 4999];
/** Codes a close frame may not carry (src/lib/close-code.ts): each one a violation. */
const UNSENDABLE_CODES = [0, 999, 1004, 1005, 1006, 1015, 1016, 2999, 5000, 65535];

interface FramePick {
  readonly name: string;
  readonly bytes: Buffer;
  readonly message?: WsMessage;
}

function serverFrame(opcode: number, payload: Buffer, overrides: Partial<FrameSpec> = {}): Buffer {
  return encodeFrame({ fin: true, rsv: 0, opcode, mask: null, payload, encoding: null, ...overrides });
}

/** A valid message, whole or in 2-4 fragments (a ping between the first two, sometimes). */
function message(random: Random): FramePick {
  const binary = random.chance(0.5);
  const size = random.pick([0, 1, 10, 125, 126, 1000, 1000, 65535, 65536, 100_000, 300_000]);
  const data = binary ? random.bytes(size) : validUtf8(random, size);
  const opcode = binary ? Opcode.binary : Opcode.text;
  const name = `${binary ? 'binary' : 'text'}:${size}`;
  if (size < 2 || !random.chance(0.3)) return { name, bytes: serverFrame(opcode, data), message: { binary, data } };
  const count = random.int(2, 4);
  const bounds = [0, ...Array.from({ length: count - 1 }, () => random.int(0, size)).sort((a, b) => a - b), size];
  const pingBetween = random.chance(0.4);
  const frames: Buffer[] = [];
  for (let i = 0; i < count; i++) {
    frames.push(serverFrame(i === 0 ? opcode : Opcode.continuation, data.subarray(bounds[i], bounds[i + 1]), { fin: i === count - 1 }));
    if (pingBetween && i === 0) frames.push(serverFrame(Opcode.ping, random.bytes(random.int(0, 125))));
  }
  return { name: `${name}x${count}${pingBetween ? '+ping' : ''}`, bytes: Buffer.concat(frames), message: { binary, data } };
}

function validStep(random: Random): FramePick {
  const kind = random.pick(['message', 'message', 'message', 'ping', 'pong']);
  if (kind === 'message') return message(random);
  const size = random.int(0, 125);
  return { name: `${kind}:${size}`, bytes: serverFrame(kind === 'ping' ? Opcode.ping : Opcode.pong, random.bytes(size)) };
}

const VIOLATIONS: Readonly<Record<string, (random: Random) => { name?: string; bytes: Buffer }>> = {
  masked: (random) => ({ bytes: encodeFrame({ fin: true, rsv: 0, opcode: random.pick([Opcode.text, Opcode.binary]), mask: random.bytes(4), payload: Buffer.from('masked'), encoding: null }) }),
  'reserved bits': (random) => {
    const rsv = random.int(1, 7);
    return { name: `reserved bits ${rsv}`, bytes: serverFrame(random.pick([Opcode.text, Opcode.binary, Opcode.ping]), Buffer.from('rsv'), { rsv }) };
  },
  'reserved opcode': (random) => {
    const opcode = random.pick([3, 4, 5, 6, 7, 11, 12, 13, 14, 15]);
    return { name: `reserved opcode ${opcode}`, bytes: serverFrame(opcode, random.bytes(random.int(0, 200))) };
  },
  'control frame over 125 bytes': (random) => ({ bytes: serverFrame(random.pick([Opcode.ping, Opcode.pong, Opcode.close]), Buffer.alloc(random.pick([126, 200, 1000]), 0x63)) }),
  'fragmented control frame': (random) => ({ bytes: Buffer.concat([serverFrame(random.pick([Opcode.ping, Opcode.pong]), Buffer.from('frag'), { fin: false }), serverFrame(Opcode.continuation, Buffer.from('ment'))]) }),
  'continuation with no start': (random) => ({ bytes: serverFrame(Opcode.continuation, random.bytes(random.int(0, 100)), { fin: random.chance(0.5) }) }),
  'new message inside a fragmented one': (random) => ({ bytes: Buffer.concat([serverFrame(Opcode.text, Buffer.from('abc'), { fin: false }), serverFrame(random.pick([Opcode.text, Opcode.binary]), Buffer.from('def'))]) }),
  'invalid UTF-8 text': (random) => {
    const text = invalidUtf8(random, random.pick([1, 10, 1000, 70_000]));
    if (random.chance(0.5)) return { bytes: serverFrame(Opcode.text, text) };
    const cut = random.int(0, text.length);
    return { name: 'invalid UTF-8 text in 2 fragments', bytes: Buffer.concat([serverFrame(Opcode.text, text.subarray(0, cut), { fin: false }), serverFrame(Opcode.continuation, text.subarray(cut))]) };
  },
  'close of one byte': (random) => ({ bytes: serverFrame(Opcode.close, random.bytes(1)) }),
  'close with a code that may not be sent': (random) => {
    const code = random.pick(UNSENDABLE_CODES);
    return { name: `close ${code}`, bytes: serverFrame(Opcode.close, closePayload(code)) };
  },
  'close with a reason that is not UTF-8': (random) => ({ bytes: serverFrame(Opcode.close, closePayload(1000, invalidUtf8(random, random.int(1, 60)))) }),
  'declared length over 16 MiB': (random) => {
    const declared = random.pick([BigInt(RELAY_MAX_MESSAGE + 1), 2n ** 32n, 2n ** 53n, 2n ** 63n, 2n ** 64n - 1n]);
    return { name: `declared length ${declared}`, bytes: serverFrame(random.pick([Opcode.text, Opcode.binary]), random.bytes(random.int(0, 64)), { declared, encoding: '64' }) };
  },
};

function violation(random: Random): { name: string; bytes: Buffer } {
  const kind = random.pick(Object.keys(VIOLATIONS));
  const drawn = (VIOLATIONS[kind] as (random: Random) => { name?: string; bytes: Buffer })(random);
  return { name: drawn.name ?? kind, bytes: drawn.bytes };
}

interface DrawnEnding {
  readonly name: string;
  readonly bytes: Buffer;
  readonly then: WsUpstreamScript['then'];
  readonly ending: Ending;
}

/** A message no client may get: sent after a violation, or after the upstream's close frame. */
function afterTheEnd(token: string): Buffer {
  return serverFrame(Opcode.text, Buffer.from(`${AFTER_VIOLATION} ${token}`));
}

function ending(random: Random, token: string): DrawnEnding {
  const kind = random.pick(['close', 'close', 'empty close', 'fin', 'reset', 'silence', 'silence']);
  if (kind === 'close') {
    const code = random.pick(SENDABLE_CODES);
    const reason = random.chance(0.5) ? '' : validUtf8(random, random.int(1, 123)).toString('utf8');
    // Now and then a message behind the close frame, which the closing handshake ended (RFC 6455 §5.5.1).
    const behind = random.chance(0.3);
    const frame = serverFrame(Opcode.close, closePayload(code, Buffer.from(reason)));
    const name = `close ${code} (${Buffer.byteLength(reason)} byte reason)${behind ? ' + a message behind it' : ''}`;
    return { name, bytes: behind ? Buffer.concat([frame, afterTheEnd(token)]) : frame, then: 'close', ending: { kind: 'code', code, reason } };
  }
  if (kind === 'empty close') return { name: kind, bytes: serverFrame(Opcode.close, Buffer.alloc(0)), then: 'close', ending: { kind: 'empty' } };
  if (kind === 'fin') return { name: kind, bytes: Buffer.alloc(0), then: 'end', ending: { kind: 'failure' } };
  if (kind === 'reset') return { name: kind, bytes: Buffer.alloc(0), then: 'reset', ending: { kind: 'failure' } };
  return { name: kind, bytes: Buffer.alloc(0), then: 'hold', ending: { kind: 'open' } };
}

/** Draws one connection's script; `offered`: the client's subprotocols; `token`: the case's. */
export function drawWsScript(token: string, random: Random, offered: readonly string[], timeoutMs: number): DrawnWsScript {
  const handshake = drawHandshake(random, offered, timeoutMs);
  if (handshake.after !== null) {
    return { script: { steps: handshake.steps, then: handshake.after }, handshake, messages: [], prefixOnly: false, ending: { kind: 'failure' }, label: handshake.label };
  }
  const valid = Array.from({ length: random.int(0, 6) }, () => validStep(random));
  const broken = random.chance(0.5) ? violation(random) : null;
  const end = ending(random, token);
  const tail = broken === null ? [] : [broken.bytes, afterTheEnd(token)];
  const cuts = pieces(Buffer.concat([...valid.map((pick) => pick.bytes), ...tail, end.bytes]), random, FRAME_PAUSE_MS);
  const steps = (key: string): Step[] => {
    const answer = handshake.steps(key);
    const first = cuts[0];
    // The answer's last bytes and the first frames in one write: websocksy's client gets them in one read.
    if (handshake.framesJoin && Buffer.isBuffer(first)) return [...answer.slice(0, -1), Buffer.concat([answer[answer.length - 1] as Buffer, first]), ...cuts.slice(1)];
    return [...answer, ...cuts];
  };
  const messages = valid.flatMap((pick) => (pick.message === undefined ? [] : [pick.message]));
  const label = [handshake.label, valid.map((pick) => pick.name).join(' ') || 'no frames', ...(broken === null ? [] : [`violation: ${broken.name}`]), end.name].join(' | ');
  return { script: { steps, then: end.then }, handshake, messages, prefixOnly: end.then === 'reset', ending: broken === null ? end.ending : { kind: 'failure' }, label };
}
