/*
 * What the scripted upstream answers one request with, and what the client must then see:
 * - good: a valid response (Content-Length, chunked with extensions and trailers, sometimes
 *   beside a Content-Length the coding overrides, or to the connection's end; after 0-3
 *   interim answers), written in one to six pieces with pauses under the route's timeout.
 *   The client must get its status and body exactly.
 * - bad head: a response whose head a client could read as something the upstream did not
 *   say (two lengths, a length beside a transfer coding, bare CR or LF, control bytes, an
 *   obsolete fold, a bad chunk size, a status line that is not one, a head over 64 KiB, a 101
 *   to a request that asked for no upgrade). Expected 502; recorded, not checked.
 * - stalls: no answer (504), a head and part of the body (cut), a body trickled a byte at a
 *   time under the timeout (exact), a body the upstream never reads (504).
 * - cuts: the connection ended or reset before the head, mid-head, mid-body (502 or a cut).
 * Any of them may carry poison right behind the response, in the same write: a whole second
 * response that belongs to no request, which no client may ever see.
 */
import type { Random } from '../test/helpers/random.js';
import type { Step, UpstreamScript } from './scripted-upstream.js';

/** A valid response must arrive as sent; the rest is recorded as it came. */
export type Expectation = { readonly exact: { readonly status: number; readonly body: Buffer } } | { readonly expected: string };

export interface DrawnAnswer {
  readonly script: UpstreamScript;
  readonly expectation: Expectation;
  /** What was drawn, in a few words (the case's input). */
  readonly label: string;
}

/** The marker of poison: no body the fuzzer draws contains it. */
export const POISON = 'POISON-';

const STATUSES = [200, 200, 200, 201, 203, 206, 400, 404, 410, 500, 503];
const REASONS: Readonly<Record<number, string>> = { 200: 'OK', 201: 'Created', 203: 'Non-Authoritative Information', 206: 'Partial Content', 400: 'Bad Request', 404: 'Not Found', 410: 'Gone', 500: 'Internal Server Error', 503: 'Service Unavailable' };

function latin1(text: string): Buffer {
  return Buffer.from(text, 'latin1');
}

/** A body that names its request, so that a body reaching the wrong client is seen. */
function bodyFor(token: string, random: Random): Buffer {
  const size = random.pick([0, 1, 10, 1000, 16 * 1024, 70 * 1024, 300 * 1024]);
  const filler = 'abcdefghijklmnopqrstuvwxyz0123456789';
  let text = `<${token}>`;
  while (text.length < size) text += filler[random.int(0, filler.length - 1)];
  return latin1(text.slice(0, Math.max(size, 0)));
}

/**
 * Cuts `bytes` into 1-6 pieces with pauses of 0-`maxPause` ms between them; a fifth of that
 * at most within the first `headEnd` bytes, as a head is due within the timeout as a whole.
 */
export function pieces(bytes: Buffer, random: Random, maxPause: number, headEnd = 0): Step[] {
  const count = random.int(1, 6);
  const cuts = new Set<number>();
  for (let i = 1; i < count && bytes.length > 1; i++) cuts.add(random.int(1, bytes.length - 1));
  const steps: Step[] = [];
  let from = 0;
  for (const cut of [...cuts].sort((a, b) => a - b)) {
    steps.push(bytes.subarray(from, cut));
    if (maxPause > 0 && random.chance(0.5)) steps.push(random.int(0, cut < headEnd ? maxPause / 5 : maxPause));
    from = cut;
  }
  steps.push(bytes.subarray(from));
  return steps;
}

function interim(random: Random): string {
  let text = '';
  for (let i = random.pick([0, 0, 0, 1, 3]); i > 0; i--) text += random.pick(['HTTP/1.1 100 Continue\r\n\r\n', 'HTTP/1.1 103 Early Hints\r\nLink: </a.css>; rel=preload\r\n\r\n']);
  return text;
}

function poison(token: string): Buffer {
  const body = `${POISON}${token}`;
  return latin1(`HTTP/1.1 200 OK\r\nContent-Length: ${body.length}\r\n\r\n${body}`);
}

/**
 * A valid response: its wire form and body. `ending`: how the response ends: by its length or
 * chunks with the connection kept, with `Connection: close` (the upstream closes after it), or
 * with no length at all (its end is the connection's).
 */
function goodResponse(token: string, random: Random, status: number, ending: 'keep' | 'close' | 'no length', chunks = true): { wire: Buffer; body: Buffer; headEnd: number } {
  const body = bodyFor(token, random);
  let head = `${interim(random)}HTTP/1.1 ${status} ${REASONS[status] ?? 'Whatever'}\r\nContent-Type: text/plain\r\nX-Token: ${token}\r\n`;
  if (ending === 'no length') head += 'Connection: close\r\n\r\n';
  else {
    if (ending === 'close') head += 'Connection: close\r\n';
    if (!chunks || random.chance(0.6)) head += `Content-Length: ${body.length}\r\n\r\n`;
    else {
      // Now and then a length beside the coding, which the coding overrides (RFC 9112 §6.3):
      // one the client's framing followed gave it a body cut short or run on into its next answer.
      if (random.chance(0.2)) head += `Content-Length: ${random.int(0, body.length * 2)}\r\n`;
      head += 'Transfer-Encoding: chunked\r\n\r\n';
    }
  }
  const headEnd = head.length;
  if (!head.endsWith('chunked\r\n\r\n')) return { wire: Buffer.concat([latin1(head), body]), body, headEnd };
  const parts: Buffer[] = [latin1(head)];
  let from = 0;
  while (from < body.length) {
    const size = Math.min(body.length - from, random.int(1, 64 * 1024));
    const extension = random.chance(0.2) ? ';name=value' : '';
    const hex = random.chance(0.5) ? size.toString(16) : size.toString(16).toUpperCase();
    parts.push(latin1(`${hex}${extension}\r\n`), body.subarray(from, from + size), latin1('\r\n'));
    from += size;
  }
  parts.push(latin1(random.chance(0.3) ? '0\r\nX-Trailer: yes\r\n\r\n' : '0\r\n\r\n'));
  return { wire: Buffer.concat(parts), body, headEnd };
}

const BAD_HEADS: ReadonlyArray<(token: string) => string> = [
  () => 'HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!',
  () => 'HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n',
  () => 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n',
  () => 'HTTP/1.1 200 OK\nContent-Length: 2\n\nok',
  () => 'HTTP/1.1 200 OK\r\nX-A: one\rX-B: two\r\nContent-Length: 2\r\n\r\nok',
  () => 'HTTP/1.1 200 OK\r\nX-A: a\x00b\r\nContent-Length: 2\r\n\r\nok',
  () => 'HTTP/1.1 200 OK\r\nX-A: one\r\n two\r\nContent-Length: 2\r\n\r\nok',
  () => 'HTTP/1.1 2000 OK\r\nContent-Length: 2\r\n\r\nok',
  () => 'HTTP/9.9 200 OK\r\nContent-Length: 2\r\n\r\nok',
  () => 'SMTP ready\r\n\r\n',
  () => 'HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\nok',
  () => 'HTTP/1.1 200 OK\r\nContent-Length: +2\r\n\r\nok',
  () => 'HTTP/1.1 200 OK\r\nBad Name: x\r\nContent-Length: 2\r\n\r\nok',
  () => `HTTP/1.1 200 OK\r\nX-Big: ${'b'.repeat(70 * 1024)}\r\nContent-Length: 2\r\n\r\nok`,
  () => 'HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\nanything',
  () => 'HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n',
  () => 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nokXX0\r\n\r\n',
];

/** Draws the upstream's answer to one request of a case. */
export function drawAnswer(token: string, random: Random, timeoutMs: number, hasBody: boolean): DrawnAnswer {
  const kind = random.pick(['good', 'good', 'good', 'bad head', 'stall', 'cut']);
  const withPoison = random.chance(0.3);
  // In the write that ends the response: poison that came in a later read could meet a request
  // the pool sent meanwhile, a race no HTTP/1.1 client can win.
  const poisoned = (steps: Step[]): Step[] => {
    if (!withPoison) return steps;
    // Onto the last bytes written, past any pause or empty piece after them.
    while (steps.length > 1 && (typeof steps[steps.length - 1] === 'number' || (steps[steps.length - 1] as Buffer).length === 0)) steps.pop();
    steps.push(Buffer.concat([steps.pop() as Buffer, poison(token)]));
    return steps;
  };
  const poisonLabel = withPoison ? ' + poison' : '';
  if (kind === 'good') {
    const status = random.pick(STATUSES);
    const ending = random.pick(['keep', 'keep', 'close', 'no length'] as const);
    const trickle = random.chance(0.1);
    // A trickle of body bytes, not of chunk sizes: only body bytes count as the body moving.
    const { wire, body, headEnd } = goodResponse(token, random, status, ending, !trickle);
    // The head is due within the timeout as a whole: only the body trickles. Bytes after a
    // response with no length would be its body: no poison there.
    const cut = trickle ? [wire.subarray(0, headEnd), ...slowly(wire.subarray(headEnd), timeoutMs / 3)] : pieces(wire, random, timeoutMs / 4, headEnd);
    const steps = ending === 'no length' ? cut : poisoned(cut);
    const label = `good ${status} (${ending}), ${wire.length} bytes${trickle ? ', trickled' : ''}${ending === 'no length' ? '' : poisonLabel}`;
    return { script: { steps, then: ending === 'keep' ? 'keep' : 'end', readBody: true }, expectation: { exact: { status, body } }, label };
  }
  if (kind === 'bad head') {
    const index = random.int(0, BAD_HEADS.length - 1);
    const wire = latin1((BAD_HEADS[index] as (token: string) => string)(token));
    // Served on: a head websocksy finds valid leaves the connection in its pool, where an
    // upstream that held it silent would cost the next request its timeout, and one that closed
    // it would meet a POST there (a race no HTTP/1.1 client can win; the upstream said nothing
    // of closing).
    return { script: { steps: poisoned(pieces(wire, random, 20)), then: 'keep', readBody: true }, expectation: { expected: '502' }, label: `bad head #${index}${poisonLabel}` };
  }
  const { wire: good, headEnd } = goodResponse(token, random, 200, 'keep');
  if (kind === 'stall') {
    const how = random.pick(hasBody ? ['no answer', 'part of the body', 'body never read'] : ['no answer', 'part of the body']);
    if (how === 'no answer') return { script: { steps: [], then: 'stay', readBody: true }, expectation: { expected: '504' }, label: 'stall: no answer' };
    if (how === 'body never read') return { script: { steps: [], then: 'stay', readBody: false }, expectation: { expected: '504' }, label: 'stall: the request body never read' };
    const cut = Math.min(headEnd + random.int(0, 100), good.length - 1);
    return { script: { steps: [good.subarray(0, cut)], then: 'stay', readBody: true }, expectation: { expected: cut < headEnd ? '504' : 'a cut' }, label: `stall after ${cut} of ${good.length} bytes` };
  }
  const where = random.int(0, good.length - 1);
  const then = random.pick(['end', 'reset'] as const);
  return { script: { steps: [good.subarray(0, where)], then, readBody: random.chance(0.8) }, expectation: { expected: where < headEnd ? '502' : 'a cut' }, label: `${then} after ${where} of ${good.length} bytes` };
}

/** Up to six bytes one at a time, `gapMs` apart, then the rest (never empty unless `bytes` is: poison rides on it). */
function slowly(bytes: Buffer, gapMs: number): Step[] {
  const steps: Step[] = [];
  const trickled = Math.max(Math.min(bytes.length - 1, 6), 0);
  for (let i = 0; i < trickled; i++) steps.push(bytes.subarray(i, i + 1), gapMs);
  steps.push(bytes.subarray(trickled));
  return steps;
}
