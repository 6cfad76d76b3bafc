/*
 * What a hostile session client sends, drawn in advance: records for an open session (data of
 * every size up to past max-message, empty messages, unknown and server-only types, records in
 * text frames or split across frames, ACK bodies cut short or too long, ACK counts behind,
 * beyond, negative and huge, END with garbage JSON, data after END), and HELLOs for a resume
 * (wrong versions, fields missing, extra or of the wrong type, ids of the wrong length or
 * alphabet, wrong secrets, `received` out of range). Each HELLO says whether any server must
 * refuse it: one that is welcomed is an oracle finding.
 */
import type { Random } from '../test/helpers/random.js';
import { invalidUtf8 } from './frame-menu.js';
import { showBytes } from './fuzz-case.js';
import { ackBody, R, record } from './session-wire.js';
import { Opcode } from './ws-frame.js';

/** What the client knows when a step is sent: the output bytes it has received. */
export interface Known {
  readonly received: number;
}

export type RecordStep =
  | { readonly label: string; readonly make: (known: Known) => Buffer; readonly opcode: number; readonly pieces: number }
  | { readonly label: 'pause'; readonly ms: number };

/** JSON bodies an END may carry that are not `{"code": N, "reason": "…"}`. */
export function garbageJson(random: Random): Buffer {
  return random.pick([Buffer.from(''), Buffer.from('{'), Buffer.from('null'), Buffer.from('[]'), Buffer.from('"end"'), Buffer.from('{"code":"x","reason":7}'), Buffer.from('{"code":1e999}'), invalidUtf8(random, 12), Buffer.alloc(70_000, 0x7b)]);
}

export function recordStep(random: Random): RecordStep {
  const roll = random.int(1, 14);
  const data = (size: number, type: number = random.pick([R.binary, R.text])): Buffer => record(type, Buffer.alloc(size, 0x64));
  if (roll <= 3) {
    const size = random.pick([0, 1, 100, 4096, 65_536, 300_000]);
    return { label: `data:${size}`, make: () => data(size), opcode: Opcode.binary, pieces: 1 };
  }
  if (roll === 4) {
    // max-message is 1 MiB: the session ends with 1009.
    const size = 1024 * 1024 + random.int(1, 10);
    return { label: `data-over-max-message:${size}`, make: () => data(size), opcode: Opcode.binary, pieces: 1 };
  }
  if (roll === 5) return { label: 'empty-message', make: () => Buffer.alloc(0), opcode: Opcode.binary, pieces: 1 };
  if (roll === 6) {
    const type = random.pick([0, R.hello, R.welcome, R.error, 8, 0x7f, 0xff]);
    const body = random.pick([Buffer.alloc(0), Buffer.from('{"v":1}'), random.bytes(20)]);
    return { label: `type-${type}:${showBytes(body, 20)}`, make: () => record(type, body), opcode: Opcode.binary, pieces: 1 };
  }
  if (roll === 7) return { label: 'data-in-text-frame', make: () => data(10, R.text), opcode: Opcode.text, pieces: 1 };
  if (roll === 8) {
    const length = random.pick([0, 1, 7, 9, 16]);
    return { label: `ack-body-of-${length}`, make: () => record(R.ack, random.bytes(length)), opcode: Opcode.binary, pieces: 1 };
  }
  if (roll <= 10) {
    const pick = random.int(0, 11);
    return {
      label: `ack-count-${pick}`,
      make: ({ received }) => {
        // Behind, right, beyond, negative (as a two's complement client would write it), huge.
        const values = [0, received, received, received + 1, received + 1000, -1, -received - 1, 2 ** 32, 2 ** 32 + received, 2 ** 53 - 1, 2 ** 53 + 2, 2 ** 64 - 1];
        return record(R.ack, ackBody(values[pick] as number));
      },
      opcode: Opcode.binary,
      pieces: 1,
    };
  }
  if (roll === 11) {
    const body = garbageJson(random);
    return { label: `end:${showBytes(body, 20)}`, make: () => record(R.end, body), opcode: Opcode.binary, pieces: 1 };
  }
  if (roll <= 13) {
    const pieces = random.int(2, 5);
    return { label: `data-split-in-${pieces}-frames`, make: () => data(random.pick([10, 5000])), opcode: Opcode.binary, pieces };
  }
  return { label: 'pause', ms: random.int(1, 80) };
}

export interface SessionKeys {
  readonly session: string;
  readonly secret: string;
  /** Output bytes the client received: a `received` it may name. */
  readonly received: number;
}

export interface HelloPick {
  readonly label: string;
  readonly make: (keys: SessionKeys) => Buffer;
  /** Every server must refuse it: a WELCOME is a finding. */
  readonly mustRefuse: boolean;
}

function helloOf(fields: Record<string, unknown>): Buffer {
  return record(R.hello, JSON.stringify(fields));
}

export function helloPick(random: Random): HelloPick {
  const good = (keys: SessionKeys, takeover: boolean): Record<string, unknown> => ({ v: 1, session: keys.session, secret: keys.secret, received: keys.received, takeover });
  const variants: Array<[string, boolean, (keys: SessionKeys) => Buffer]> = [
    ['valid, takeover', false, (keys) => helloOf(good(keys, true))],
    ['valid, no takeover', false, (keys) => helloOf(good(keys, false))],
    ['valid, extra fields', false, (keys) => helloOf({ ...good(keys, true), extra: 'x', nested: { a: [1] } })],
    ['valid, __proto__ key', false, (keys) => record(R.hello, `{"__proto__":{"v":2},"v":1,"session":"${keys.session}","secret":"${keys.secret}","received":${keys.received},"takeover":true}`)],
    ['received -0', false, (keys) => record(R.hello, `{"v":1,"session":"${keys.session}","secret":"${keys.secret}","received":${keys.received === 0 ? '-0' : keys.received},"takeover":true}`)],
    ['takeover null', false, (keys) => helloOf({ ...good(keys, true), takeover: null })],
    [`version`, true, (keys) => helloOf({ ...good(keys, true), v: random.pick([0, 2, '1', null, 1.5, true, [1]]) })],
    ['no version', true, (keys) => helloOf({ session: keys.session, secret: keys.secret, received: keys.received, takeover: true })],
    ['no session', true, (keys) => helloOf({ v: 1, secret: keys.secret, received: keys.received, takeover: true })],
    ['no secret', true, (keys) => helloOf({ v: 1, session: keys.session, received: keys.received, takeover: true })],
    ['no received', true, (keys) => helloOf({ v: 1, session: keys.session, secret: keys.secret, takeover: true })],
    ['session of wrong type', true, (keys) => helloOf({ ...good(keys, true), session: random.pick([123, null, [keys.session], { id: keys.session }]) })],
    ['secret of wrong type', true, (keys) => helloOf({ ...good(keys, true), secret: random.pick([0, null, [keys.secret], true]) })],
    ['received of wrong type', true, (keys) => helloOf({ ...good(keys, true), received: random.pick([String(keys.received), null, true, [keys.received], {}]) })],
    ['takeover of wrong type', true, (keys) => helloOf({ ...good(keys, true), takeover: random.pick(['yes', 1, 0, [true], {}]) })],
    ['id of wrong length', true, (keys) => helloOf({ ...good(keys, true), session: random.pick([keys.session.slice(1), `${keys.session}A`, '', 'A'.repeat(10_000)]) })],
    ['id of wrong alphabet', true, (keys) => helloOf({ ...good(keys, true), session: `${keys.session.slice(0, 15)}${random.pick(['/', '+', '=', '.', ' ', 'é', '\n', '\u0000'])}` })],
    ['unknown id', true, (keys) => helloOf({ ...good(keys, true), session: 'AAAAAAAAAAAAAAAA' })],
    ['wrong secret', true, (keys) => helloOf({ ...good(keys, true), secret: random.pick(['x'.repeat(22), '', `${keys.secret} `, keys.secret.slice(1), keys.secret.toUpperCase() === keys.secret ? 'Y'.repeat(22) : keys.secret.toUpperCase(), 's'.repeat(200_000)]) })],
    ['received out of range', true, (keys) => helloOf({ ...good(keys, true), received: random.pick([-1, keys.received + 1, keys.received + 100_000, 2 ** 53, 1e308, 0.5, -1e308]) })],
    ['not JSON', true, () => record(R.hello, random.pick([Buffer.from('{'), Buffer.alloc(0), Buffer.from('null'), Buffer.from('[]'), Buffer.from('"hello"'), invalidUtf8(random, 16)]))],
  ];
  const [label, mustRefuse, make] = random.pick(variants);
  return { label: `hello:${label}`, make, mustRefuse };
}
