/*
 * What a fuzzing tunnel client says, drawn in advance: hellos good and bad (malformed JSON,
 * wrong versions, names and tokens, garbage resume fields), and after a welcome a run of
 * session frames from a menu: opens to the allowed echo peer, to a forbidden port, with bad
 * targets and bad stream ids (even, reused, 0, 2^32-1), data within and beyond the window,
 * credits of every size and length, FIN, RESET (also right behind a FIN), ACCEPT/REJECT for
 * streams that do not exist, pings, listen requests and stray control messages, frames too
 * short or of unknown types.
 */
import { FrameType, PROTOCOL_VERSION } from '../src/tunnel/protocol.js';
import type { Random } from '../test/helpers/random.js';
import type { Targets, TunnelIdentity } from './targets.js';
import { controlFrame, tunnelFrame } from './tunnel-conversation.js';
import { invalidUtf8 } from './frame-menu.js';
import { showBytes } from './fuzz-case.js';
import { Opcode } from './ws-frame.js';

export type Step = { readonly label: string; readonly bytes: Buffer; readonly opcode: number } | { readonly label: 'pause'; readonly ms: number };

/** The largest WebSocket message the tunnel endpoint takes (server.ts MAX_FRAME). */
export const MAX_TUNNEL_MESSAGE = 1024 * 1024;
/** The server's default per-stream window. */
const WINDOW = 256 * 1024;

export function hello(identity: TunnelIdentity, extra: Record<string, unknown> = {}): Buffer {
  return controlFrame({ type: 'hello', version: PROTOCOL_VERSION, name: identity.name, token: identity.token, ...extra });
}

/** A hello that must be refused, or a good one sent oddly (as text, on a stream, with a `__proto__` key). */
export function badHello(random: Random, targets: Targets): Step {
  const good = { type: 'hello', version: PROTOCOL_VERSION, name: targets.identity.name, token: targets.identity.token };
  const variants: Record<string, () => Buffer> = {
    'not-json': () => tunnelFrame(FrameType.control, 0, random.pick(['{', '', 'null', '[]', '"hello"', '{"type":1}', 'NaN', '{"type":"hello"', '\u0000'])),
    version: () => controlFrame({ ...good, version: random.pick([0, 2, '1', null, 1.5, -1, 1e308, true, [1]]) }),
    'wrong-token': () => controlFrame({ ...good, token: random.bytes(18).toString('base64url') }),
    'unknown-name': () => controlFrame({ ...good, name: `nobody${random.int(0, 999)}` }),
    'odd-token': () => controlFrame({ ...good, token: random.pick([null, 123, {}, [], '', targets.identity.token + ' ', 'a'.repeat(500_000)]) }),
    'odd-name': () => controlFrame({ ...good, name: random.pick(['__proto__', 'constructor', 'fuzz\u0000', '', 'x'.repeat(10_000), 123, null]) }),
    'garbage-resume': () => controlFrame({ ...good, resume: random.pick([null, 'x', { id: 'x' }, { id: 123, secret: {}, state: 'x' }, { id: '', secret: '', state: { streams: [], seen: 0 } }, []]) }),
    'as-text': () => controlFrame(good),
    'on-a-stream': () => tunnelFrame(FrameType.control, random.pick([1, 2, 0xffffffff]), JSON.stringify(good)),
    'other-type': () => controlFrame({ ...good, type: random.pick(['welcome', 'listen', 'HELLO', 'refuse', '']) }),
    'proto-key': () => tunnelFrame(FrameType.control, 0, `{"__proto__":{"type":"hello"},"version":1,"name":"${targets.identity.name}","token":"${targets.identity.token}"}`),
  };
  const name = random.pick(Object.keys(variants));
  const bytes = (variants[name] as () => Buffer)();
  return { label: `hello:${name} ${showBytes(bytes.subarray(5), 160)}`, bytes, opcode: name === 'as-text' ? Opcode.text : Opcode.binary };
}

/** Session frames drawn one by one, with the stream ids a client would have in hand. */
export class SessionScript {
  readonly steps: Step[] = [];
  private nextId = 1;
  private readonly opened: number[] = [];

  constructor(
    private readonly random: Random,
    private readonly targets: Targets,
  ) {}

  private add(label: string, bytes: Buffer, opcode: number = Opcode.binary): void {
    this.steps.push({ label, bytes, opcode });
  }

  private streamId(): number {
    const random = this.random;
    if (this.opened.length > 0 && random.chance(0.7)) return random.pick(this.opened);
    return random.pick([0, 2, 3, 999, 0x7fffffff, 0x80000001, 0xfffffffe, 0xffffffff, random.int(1, 0xffffffff)]);
  }

  openEcho(): number {
    const id = this.nextId;
    this.nextId += 2;
    this.opened.push(id);
    this.add(`open:${id}:echo`, tunnelFrame(FrameType.open, id, JSON.stringify({ host: '127.0.0.1', port: this.targets.echoPort })));
    return id;
  }

  data(id: number, size: number): void {
    this.add(`data:${id}:${size}`, tunnelFrame(FrameType.data, id, Buffer.alloc(size, 0x64)));
  }

  fin(id: number): void {
    this.add(`fin:${id}`, tunnelFrame(FrameType.fin, id));
  }

  pause(ms: number): void {
    this.steps.push({ label: 'pause', ms });
  }

  /** One step from the menu. */
  randomStep(): void {
    const random = this.random;
    const { echoPort, canaryPort, listenPort } = this.targets;
    const roll = random.int(1, 20);
    if (roll <= 4) {
      this.openEcho();
      return;
    }
    if (roll === 5) {
      const body = random.pick([
        JSON.stringify({ host: '127.0.0.1', port: canaryPort }), JSON.stringify({ host: 'localhost', port: echoPort }), '{', '[]', '{"host":1,"port":2}',
        '{"listener":0}', '{"host":"127.0.0.1","port":-1}', '{"host":"127.0.0.1","port":0}', '{"host":"127.0.0.1","port":65536}',
        '{"host":"127.0.0.1","port":1.5}', '{"host":"127.0.0.1","port":1e309}', '{"host":"","port":80}', `{"host":"127.0.0.1\\u0000","port":${echoPort}}`,
        JSON.stringify({ host: 'h'.repeat(70_000), port: echoPort }), JSON.stringify({ host: '::ffff:127.0.0.1', port: echoPort }),
        JSON.stringify({ host: '127.1', port: echoPort }), JSON.stringify({ host: '0x7f000001', port: echoPort }), JSON.stringify({ host: '[127.0.0.1]', port: echoPort }),
      ]);
      const id = this.nextId;
      this.nextId += 2;
      this.add(`open:${id}:${body.slice(0, 40)}`, tunnelFrame(FrameType.open, id, body));
      return;
    }
    if (roll === 6) {
      const id = random.pick([0, 2, this.nextId - 2, 1, 0xffffffff, 0x80000001, this.nextId + 2]);
      this.add(`open-odd-id:${id}`, tunnelFrame(FrameType.open, id, JSON.stringify({ host: '127.0.0.1', port: echoPort })));
      return;
    }
    if (roll <= 9) {
      const size = random.pick([0, 1, 100, 4096, 65_536, MAX_TUNNEL_MESSAGE - 5]);
      this.data(this.streamId(), size);
      return;
    }
    if (roll === 10) {
      // More than a window without waiting for credit: the server must reset the stream.
      const id = this.streamId();
      for (let sent = 0; sent <= WINDOW; sent += 64 * 1024) this.data(id, 64 * 1024);
      return;
    }
    if (roll === 11) {
      const length = random.pick([6, 6, 6, 0, 5, 7, 12]);
      const body = Buffer.alloc(length);
      if (length >= 6) body.writeUIntBE(random.pick([0, 1, 65_536, WINDOW, 2 ** 48 - 1, random.int(0, 2 ** 31)]), 0, 6);
      this.add(`credit:${length}`, tunnelFrame(FrameType.credit, this.streamId(), body));
      return;
    }
    if (roll === 12) {
      const id = this.streamId();
      this.fin(id);
      // A RESET right behind the FIN reaches a socket whose end() is under way: Node could not
      // reset it there and kept its descriptor for good (lib/reset-connection.ts).
      if (random.chance(0.3)) this.add(`reset:${id}`, tunnelFrame(FrameType.reset, id, 'reset after fin'));
      return;
    }
    if (roll === 13) {
      const reason = random.pick([Buffer.from('fuzz reset'), invalidUtf8(random, 20), Buffer.alloc(10_000, 0x72), Buffer.alloc(0)]);
      this.add('reset', tunnelFrame(FrameType.reset, this.streamId(), reason));
      return;
    }
    if (roll === 14) {
      const type = random.pick([FrameType.accept, FrameType.reject]);
      this.add(`${type === FrameType.accept ? 'accept' : 'reject'}`, tunnelFrame(type, this.streamId(), type === FrameType.reject ? 'no' : ''));
      return;
    }
    if (roll === 15) {
      const type = random.pick([FrameType.ping, FrameType.pong]);
      this.add(type === FrameType.ping ? 'ping' : 'pong', tunnelFrame(type, random.pick([0, 1, 0xffffffff]), random.chance(0.3) ? random.bytes(10) : Buffer.alloc(0)));
      return;
    }
    if (roll <= 17) {
      const message = random.pick<unknown>([
        { type: 'listen', listener: random.int(0, 3), bind: '127.0.0.1', port: listenPort },
        { type: 'listen', listener: 1, bind: '127.0.0.1', port: 1 },
        { type: 'listen', listener: 1, bind: '0.0.0.0', port: listenPort },
        { type: 'listen', listener: 'a', bind: 7, port: '80' },
        { type: 'listen', listener: 2 ** 53, bind: '127.0.0.1', port: listenPort },
        { type: 'listen' },
        { type: 'hello', version: 1, name: this.targets.identity.name, token: this.targets.identity.token },
        { type: 'welcome' },
        { type: 'nonsense' },
        [1, 2, 3],
        'just a string',
      ]);
      this.add(`control:${JSON.stringify(message).slice(0, 40)}`, controlFrame(message));
      return;
    }
    if (roll === 18) {
      const bytes = random.pick([Buffer.alloc(0), Buffer.from([FrameType.data]), Buffer.from([FrameType.ping, 0, 0, 0]), tunnelFrame(0, 1), tunnelFrame(11, 1), tunnelFrame(255, 1, 'x')]);
      this.add(`raw:${bytes.toString('hex').slice(0, 20)}`, bytes);
      return;
    }
    if (roll === 19) {
      this.add('text-message', tunnelFrame(FrameType.ping, 0), Opcode.text);
      return;
    }
    this.pause(random.int(1, 60));
  }
}

/** A resume state as a client might send it, honest or not, for a stream `id` it opened. */
export function resumeState(random: Random, id: number, sent: number): unknown {
  const count = (): unknown => random.pick([0, 1, sent, sent + 1, -1, 0.5, 2 ** 48, 2 ** 53 + 2, 1e308, -0, '5', null]);
  const variant = random.pick(['empty', 'honest', 'honest', 'wild', 'wild', 'malformed', 'many']);
  switch (variant) {
    case 'empty':
      return { streams: [], seen: 0 };
    case 'honest':
      return { streams: [{ id, received: 0, consumed: 0 }], seen: 0 };
    case 'wild':
      return { streams: [{ id: random.pick([id, id + 2, 2, 0, -1, 0.5, 2 ** 32]), received: count(), consumed: count() }], seen: random.pick([0, id, 2 ** 32, -1, 1.5, 1e308]) };
    case 'malformed':
      return random.pick<unknown>([{ streams: 'x', seen: 0 }, { streams: [] }, { streams: [{ id }], seen: 0 }, { streams: [null], seen: 0 }, null, 7]);
    default:
      return { streams: Array.from({ length: 10_000 }, (_, index) => ({ id: 2 * index + 1, received: 0, consumed: 0 })), seen: 0 };
  }
}
