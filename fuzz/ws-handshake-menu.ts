/*
 * How the scripted WebSocket upstream answers websocksy's upgrade request, and what the client
 * must then get (RFC 6455 §4.1 says when a client must fail the connection):
 * - accept: a valid 101 (the Sec-WebSocket-Accept of websocksy's key, perhaps one of the
 *   subprotocols the client offered), written whole, trickled in pieces with pauses under the
 *   route's timeout, or in one write with the first frames. The client must get 101 (with the
 *   same subprotocol), and frames follow.
 * - refuse: a 101 with a wrong or missing accept, without Upgrade or Connection, choosing a
 *   subprotocol or an extension nobody offered; a 200, 404, 426 or 500 with a body; a 101
 *   trickled so slowly that it takes four times the route's timeout, though no pause reaches
 *   it; no answer at all; the connection ended or reset before or in the middle of the head. The client must not
 *   get 101 (502 or 504 are expected; the status is recorded, not checked).
 * - either: a 101 that is valid but for its form: bare LF line ends (RFC 9112 §2.2 lets a
 *   recipient take them), a NUL in an unrelated header (RFC 9110 §5.5: reject it or read it as
 *   a space), a head over 64 KiB (a limit, not the protocol). Refused or taken, both are right;
 *   when taken, frames follow as after a valid one.
 */
import type { Random } from '../test/helpers/random.js';
import type { Step } from './scripted-upstream.js';
import { websocketAccept } from '../src/lib/websocket-accept.js';
import { pieces } from './upstream-menu.js';

/** RFC 6455's sample key: a key of the right length, for a head cut before the real key is known. */
const SAMPLE_KEY = 'dGhlIHNhbXBsZSBub25jZQ==';

export interface DrawnHandshake {
  /** What was drawn, in a few words (the case's input). */
  readonly label: string;
  readonly must: 'accept' | 'refuse' | 'either';
  /** The subprotocol a 101 the client must get names ('' for none). */
  readonly protocol: string;
  /** The upstream's answer for websocksy's key: bytes and pauses. */
  readonly steps: (key: string) => Step[];
  /** Frames may go in the same write as the answer's last bytes. */
  readonly framesJoin: boolean;
  /** When no WebSocket can follow: what the connection does after the answer. */
  readonly after: 'end' | 'reset' | 'hold' | null;
}

interface HeadShape {
  readonly status?: string;
  readonly upgrade?: string | null;
  readonly connection?: string | null;
  /** A function of the key: the right accept, a wrong one, or none (null). */
  readonly accept?: ((key: string) => string) | null;
  readonly extra?: readonly string[];
  readonly eol?: string;
  readonly body?: string;
}

/** A 101 for `key`, or something shaped like one with the parts `shape` changes. */
function head(key: string, protocol: string, shape: HeadShape = {}): Buffer {
  const lines = [`HTTP/1.1 ${shape.status ?? '101 Switching Protocols'}`];
  const upgrade = shape.upgrade === undefined ? 'websocket' : shape.upgrade;
  const connection = shape.connection === undefined ? 'Upgrade' : shape.connection;
  const accept = shape.accept === undefined ? websocketAccept : shape.accept;
  if (upgrade !== null) lines.push(`Upgrade: ${upgrade}`);
  if (connection !== null) lines.push(`Connection: ${connection}`);
  if (accept !== null) lines.push(`Sec-WebSocket-Accept: ${accept(key)}`);
  if (protocol !== '') lines.push(`Sec-WebSocket-Protocol: ${protocol}`);
  lines.push(...(shape.extra ?? []));
  const eol = shape.eol ?? '\r\n';
  return Buffer.from([...lines, '', ''].join(eol) + (shape.body ?? ''), 'latin1');
}

/** `bytes` cut where `cuts` (pieces of another buffer of the same length) were cut, with the same pauses. */
function recut(cuts: readonly Step[], bytes: Buffer): Step[] {
  let from = 0;
  return cuts.map((step) => {
    if (typeof step === 'number') return step;
    from += step.length;
    return bytes.subarray(from - step.length, from);
  });
}

const SLOW_PIECES = 8;

/** `bytes` in SLOW_PIECES even pieces, `pauseMs` apart. */
function slowly(bytes: Buffer, pauseMs: number): Step[] {
  const steps: Step[] = [];
  for (let i = 0; i < SLOW_PIECES; i++) {
    if (i > 0) steps.push(pauseMs);
    steps.push(bytes.subarray(Math.floor((i * bytes.length) / SLOW_PIECES), Math.floor(((i + 1) * bytes.length) / SLOW_PIECES)));
  }
  return steps;
}

/** A 101 that must be refused: its label and its shape. */
const BROKEN_101S: ReadonlyArray<readonly [string, HeadShape]> = [
  ['101 with the accept of another key', { accept: () => websocketAccept(SAMPLE_KEY) }],
  ['101 with an accept that is not base64', { accept: () => 'not-an-accept' }],
  ['101 without Sec-WebSocket-Accept', { accept: null }],
  ['101 without Upgrade', { upgrade: null }],
  ['101 with "Upgrade: h2c"', { upgrade: 'h2c' }],
  ['101 without Connection', { connection: null }],
  ['101 with "Connection: keep-alive"', { connection: 'keep-alive' }],
  ['101 with permessage-deflate, not offered', { extra: ['Sec-WebSocket-Extensions: permessage-deflate'] }],
  ['200 with every WebSocket header', { status: '200 OK', extra: ['Content-Length: 0'] }],
];

const STATUS_ANSWERS: readonly string[] = ['200 OK', '404 Not Found', '500 Internal Server Error', '426 Upgrade Required'];

/** Draws the upstream's answer; `offered` is the client's Sec-WebSocket-Protocol list. */
export function drawHandshake(random: Random, offered: readonly string[], timeoutMs: number): DrawnHandshake {
  const kind = random.pick(['valid', 'valid', 'valid', 'valid', 'valid', 'broken 101', 'status', 'odd form', 'slow head', 'silence', 'cut']);
  const chosen = offered.length > 0 && random.chance(0.7) ? random.pick(offered) : '';
  if (kind === 'valid') {
    const delivery = random.pick(['whole', 'whole', 'trickled', 'with the first frames']);
    // Each pause under the timeout, which times the upstream's silence. Cut now, while the
    // case's generator is drawing: every key gives a head of the same length.
    const cuts = pieces(head(SAMPLE_KEY, chosen), random, timeoutMs / 5);
    const steps = delivery === 'trickled' ? (key: string) => recut(cuts, head(key, chosen)) : (key: string) => [head(key, chosen)];
    return { label: `valid 101${chosen === '' ? '' : ` (${chosen})`}, ${delivery}`, must: 'accept', protocol: chosen, steps, framesJoin: delivery === 'with the first frames', after: null };
  }
  const after = random.pick(['end', 'hold'] as const);
  if (kind === 'broken 101') {
    const unoffered = offered.length > 0 && random.chance(0.3);
    const [label, shape]: readonly [string, HeadShape] = unoffered ? [`101 choosing "notoffered" over ${offered.join(', ')}`, {}] : random.pick(BROKEN_101S);
    const protocol = unoffered ? 'notoffered' : chosen;
    return { label: `${label}, then ${after}`, must: 'refuse', protocol: '', steps: (key) => [head(key, protocol, shape)], framesJoin: false, after };
  }
  if (kind === 'status') {
    const status = random.pick(STATUS_ANSWERS);
    const body = `status ${status}\n`;
    const shape: HeadShape = { status, upgrade: null, connection: null, accept: null, extra: [`Content-Length: ${body.length}`, 'Content-Type: text/plain'], body };
    return { label: `${status} with a body, then ${after}`, must: 'refuse', protocol: '', steps: (key) => [head(key, '', shape)], framesJoin: false, after };
  }
  if (kind === 'odd form') {
    const form = random.pick(['bare LF', 'NUL', 'over 64 KiB']);
    const shape: HeadShape = form === 'bare LF' ? { eol: '\n' } : { extra: [form === 'NUL' ? 'X-Note: a\u0000b' : `X-Big: ${'b'.repeat(70 * 1024)}`] };
    return { label: `101 with ${form} in its head`, must: 'either', protocol: chosen, steps: (key) => [head(key, chosen, shape)], framesJoin: false, after: null };
  }
  if (kind === 'slow head') {
    // Each pause under the timeout, all of them together four times over it: the route's
    // timeout is the head's (docs/routes.md: 504 past `timeout`), not only each silence's.
    const pause = (timeoutMs * 3) / 5;
    return { label: `a 101 in ${SLOW_PIECES} pieces ${pause} ms apart`, must: 'refuse', protocol: '', steps: (key) => slowly(head(key, chosen), pause), framesJoin: false, after: 'end' };
  }
  if (kind === 'silence') {
    const part = random.chance(0.5);
    const cut = random.int(1, 60);
    return { label: part ? `${cut} bytes of a 101, then silence` : 'no answer, silence', must: 'refuse', protocol: '', steps: (key) => (part ? [head(key, chosen).subarray(0, cut)] : []), framesJoin: false, after: 'hold' };
  }
  const end = random.pick(['end', 'reset'] as const);
  const where = random.chance(0.3) ? 0 : random.int(1, 100);
  return { label: `${end} after ${where} bytes of a 101`, must: 'refuse', protocol: '', steps: (key) => [head(key, chosen).subarray(0, where)], framesJoin: false, after: end };
}
