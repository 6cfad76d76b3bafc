/*
 * Resumable sessions over HTTP (docs/sessions.md "HTTP transport"): POST opens on the bridge
 * with and without `Websocksy-Protocol` (and with a body, or the wrong header value); then
 * polls and sends with malformed query strings (`received`, `offset`, `wait` missing,
 * negative, not digits, huge), bad or missing `Authorization`, bodies with record headers or
 * lengths cut short, records a client may not send, bodies over the limit, retried POSTs with
 * overlapping offsets, DELETE, other methods and paths; takeover between a WebSocket and HTTP;
 * and polls abandoned mid-wait. Three checks are oracles: a request without the right secret
 * never gets 200, a refused POST takes nothing (docs: a body is taken whole or refused), and a
 * retried POST is never taken twice.
 */
import type { Random } from '../test/helpers/random.js';
import type { CaseOutcome, CaseScope } from './fuzz-case.js';
import { describeAnswer, httpCall, type HttpAnswer } from './http-call.js';
import { segment } from './request-draft.js';
import { ackCount, httpRecord, parseJson, R, readHttpRecords, record, SESSION_PATH, SESSION_PROTOCOL, SessionTalk } from './session-wire.js';
import { garbageJson } from './session-menu.js';
import { RawConnection } from './raw-connection.js';

/** The session's window (peer-buffer / 2) plus the 64 KiB the server allows beside it. */
const BODY_LIMIT = 2 * 1024 * 1024 + 64 * 1024;

interface Opened {
  readonly session: string;
  readonly secret: string;
}

interface Ctx {
  readonly scope: CaseScope;
  readonly random: Random;
  readonly session: Opened;
  readonly answers: string[];
}

const BAD_AUTH = ['', 'Bearer', 'Bearer ', 'Basic eDp5', 'Bearer xxxxxxxxxxxxxxxxxxxxxx', 'Bearer  {secret} extra', 'Bearer {secret}x', 'Token {secret}', '{secret}'];

function auth(ctx: Ctx, good: boolean, takeover = true): Record<string, string> {
  const secret = ctx.session.secret;
  const value = good ? ctx.random.pick([`Bearer ${secret}`, `bearer ${secret}`, `Bearer \t${secret}`]) : ctx.random.pick(BAD_AUTH).replace('{secret}', secret);
  return { ...(value === '' ? {} : { Authorization: value }), ...(takeover ? { 'Websocksy-Takeover': ctx.random.pick(['1', '1', 'true', '0']) } : {}) };
}

function call(ctx: Ctx, method: string, path: string, headers: Record<string, string>, body?: Buffer, timeoutMs = 3000, abortAfterMs?: number): Promise<HttpAnswer> {
  return httpCall(ctx.scope.targets.port, { method, path, headers, body, timeoutMs, abortAfterMs });
}

/** The server's count of client data: an empty POST at offset 0 answers with it (null when it does not answer). */
async function probeCount(ctx: Ctx): Promise<number | null> {
  const answer = await call(ctx, 'POST', `${SESSION_PATH}/${ctx.session.session}/send?offset=0`, { Authorization: `Bearer ${ctx.session.secret}`, 'Websocksy-Takeover': '1' });
  if ('failed' in answer || answer.status !== 200) return null;
  const records = readHttpRecords(answer.body);
  const ack = typeof records === 'string' ? undefined : records.find((got) => got.type === R.ack);
  return ack === undefined ? null : ackCount(ack.body);
}

const QUERY_VALUES = ['', '-1', 'abc', '1e3', '0x10', '99999999999999999999', '9007199254740993', '00', '%201', '1.5', '%30', '%00'];

function query(random: Random, name: string, valid: string): string {
  const roll = random.int(1, 5);
  if (roll === 1) return '';
  if (roll === 2) return `${name}=${random.pick(QUERY_VALUES)}`;
  if (roll === 3) return `${name}=${valid}&${name}=${random.pick(QUERY_VALUES)}`;
  return `${name}=${valid}`;
}

/** A POST body: whole records, or broken ones. */
function sendBody(random: Random): { label: string; body: Buffer } {
  const good = httpRecord(R.binary, Buffer.alloc(random.pick([1, 100, 3000]), 0x70));
  const variants: Array<[string, () => Buffer]> = [
    ['records', () => Buffer.concat([good, httpRecord(R.text, 'text'), httpRecord(R.ack, Buffer.alloc(8))])],
    ['header cut short', () => Buffer.concat([good, httpRecord(R.text, 'abc').subarray(0, random.int(1, 4))])],
    ['length past the end', () => Buffer.concat([good, httpRecord(R.binary, 'abcdef').subarray(0, random.int(5, 10))])],
    ['huge length', () => Buffer.concat([good, Buffer.from([R.binary, 0xff, 0xff, 0xff, 0xff]), Buffer.from('x')])],
    ['hello record', () => Buffer.concat([good, httpRecord(R.hello, '{"v":1}')])],
    ['unknown type', () => Buffer.concat([good, httpRecord(random.pick([0, R.welcome, R.error, 9, 0xff]), 'x')])],
    ['ack of wrong length', () => Buffer.concat([good, httpRecord(R.ack, Buffer.alloc(random.pick([0, 7, 9])))])],
    ['ack beyond', () => Buffer.concat([good, httpRecord(R.ack, Buffer.from([0, 0, 0, 1, 0, 0, 0, 0]))])],
    ['end with garbage', () => Buffer.concat([good, httpRecord(R.end, garbageJson(random))])],
    ['data after end', () => Buffer.concat([httpRecord(R.end, '{"code":1000,"reason":""}'), good])],
    ['empty', () => Buffer.alloc(0)],
    ['over the limit', () => Buffer.concat([httpRecord(R.binary, Buffer.alloc(BODY_LIMIT, 0x6f))])],
  ];
  const [label, make] = random.pick(variants);
  return { label, body: make() };
}

type Step = (ctx: Ctx) => Promise<void>;

function note(ctx: Ctx, label: string, answer: HttpAnswer): void {
  ctx.answers.push(`${label} ${describeAnswer(answer)}`);
}

function stepOf(random: Random): { label: string; step: Step } {
  const roll = random.int(1, 9);
  const base = (ctx: Ctx): string => `${SESSION_PATH}/${ctx.session.session}`;
  if (roll <= 2) {
    const goodAuth = random.chance(0.7);
    const q = [query(random, 'received', '0'), query(random, 'wait', random.pick(['0', '1']))].filter((part) => part !== '').join('&');
    return {
      label: `poll?${q}${goodAuth ? '' : ' (bad auth)'}`,
      step: async (ctx) => {
        const answer = await call(ctx, 'GET', `${base(ctx)}/poll?${q}`, auth(ctx, goodAuth), undefined, 3000, ctx.random.chance(0.3) ? ctx.random.int(5, 300) : undefined);
        note(ctx, 'poll', answer);
        if (!goodAuth && !('failed' in answer) && answer.status === 200) ctx.scope.targets.found(`session ${ctx.session.session}: a poll with a bad Authorization got 200`);
        if (!('failed' in answer) && answer.status === 200 && typeof readHttpRecords(answer.body) === 'string') ctx.scope.targets.found(`session ${ctx.session.session}: a malformed poll answer`);
      },
    };
  }
  if (roll <= 5) {
    const goodAuth = random.chance(0.8);
    const { label, body } = sendBody(random);
    const offset = random.pick(['count', 'count', 'count', 'count+1', '0', 'missing', '-1', 'abc', '99999999999999999999']);
    return {
      label: `send offset=${offset} ${label}${goodAuth ? '' : ' (bad auth)'}`,
      step: async (ctx) => {
        const before = await probeCount(ctx);
        const at = offset === 'count' ? String(before ?? 0) : offset === 'count+1' ? String((before ?? 0) + 1) : offset;
        const answer = await call(ctx, 'POST', `${base(ctx)}/send${at === 'missing' ? '' : `?offset=${at}`}`, auth(ctx, goodAuth), body, 5000);
        note(ctx, 'send', answer);
        if ('failed' in answer) return;
        if (!goodAuth && answer.status === 200) ctx.scope.targets.found(`session ${ctx.session.session}: a POST with a bad Authorization got 200`);
        if (answer.status === 200 || before === null) return;
        const after = await probeCount(ctx);
        if (after !== null && after !== before) ctx.scope.targets.found(`session ${ctx.session.session}: a POST refused with ${answer.status} (${label}, offset ${at}) took ${after - before} bytes (a body is taken whole or refused)`);
      },
    };
  }
  if (roll === 6) {
    const first = random.pick([1, 10, 500]);
    const second = random.pick([1, 10, 500]);
    return {
      label: `retried POST ${first}+${second}`,
      step: async (ctx) => {
        const before = await probeCount(ctx);
        if (before === null) return;
        const a = httpRecord(R.binary, Buffer.alloc(first, 0x61));
        const b = httpRecord(R.text, Buffer.alloc(second, 0x62));
        const path = `${base(ctx)}/send?offset=${before}`;
        note(ctx, 'send', await call(ctx, 'POST', path, auth(ctx, true), a));
        const retried = await call(ctx, 'POST', path, auth(ctx, true), Buffer.concat([a, b]));
        note(ctx, 'retried send', retried);
        const after = await probeCount(ctx);
        if (after !== null && after > before + first + second) ctx.scope.targets.found(`session ${ctx.session.session}: a retried POST was taken twice (count ${before} → ${after}, ${first + second} bytes sent)`);
      },
    };
  }
  if (roll === 7) {
    const goodAuth = random.chance(0.6);
    return {
      label: `DELETE${goodAuth ? '' : ' (bad auth)'}`,
      step: async (ctx) => {
        const answer = await call(ctx, 'DELETE', base(ctx), auth(ctx, goodAuth));
        note(ctx, 'delete', answer);
        if (!goodAuth && !('failed' in answer) && answer.status === 200) ctx.scope.targets.found(`session ${ctx.session.session}: a DELETE with a bad Authorization got 200`);
      },
    };
  }
  if (roll === 8) {
    const [method, suffix] = random.pick([['PUT', '/send'], ['GET', ''], ['HEAD', '/poll'], ['GET', '/poll/extra'], ['POST', '/poll'], ['GET', '/../x/poll'], ['OPTIONS', '/send'], ['GET', 'x/poll']] as const);
    return {
      label: `${method} <id>${suffix}`,
      step: async (ctx) => note(ctx, `${method} ${suffix}`, await call(ctx, method, `${base(ctx)}${suffix}?received=0`, auth(ctx, true))),
    };
  }
  return {
    label: 'takeover by a WebSocket',
    step: async (ctx) => {
      const ws = await ctx.scope.upgrade(SESSION_PATH, SESSION_PROTOCOL);
      if (!(ws instanceof RawConnection)) return;
      const talk = new SessionTalk(ws, ctx.random);
      const takeover = ctx.random.chance(0.5);
      talk.send(record(R.hello, JSON.stringify({ v: 1, session: ctx.session.session, secret: ctx.session.secret, received: 0, takeover })));
      const greeting = await talk.greeting(3000);
      ctx.answers.push(`websocket resume ${greeting ?? 'nothing'} ${String(talk.error?.['error'] ?? '')}`.trim());
      if (ctx.random.chance(0.5)) ws.cut('reset');
    },
  };
}

/** Opens a session over HTTP (or over a WebSocket that is then cut), or says why not. */
async function openSession(scope: CaseScope, random: Random, over: 'http' | 'websocket', protocols: string | null): Promise<Opened | string> {
  if (over === 'websocket') {
    const ws = await scope.upgrade(`/${segment(random)}`, SESSION_PROTOCOL);
    if (!(ws instanceof RawConnection)) return ws.answer;
    const talk = new SessionTalk(ws, random);
    if ((await talk.greeting(3000)) !== 'welcome') return 'no WELCOME';
    ws.cut(random.pick(['reset', 'fin']));
    return { session: String(talk.welcome?.['session']), secret: String(talk.welcome?.['secret']) };
  }
  const headers: Record<string, string> = { 'Websocksy-Session': 'open', ...(protocols === null ? {} : { 'Websocksy-Protocol': protocols }) };
  const answer = await httpCall(scope.targets.port, { method: 'POST', path: `/${segment(random)}?q=1`, headers, timeoutMs: 5000 });
  if ('failed' in answer || answer.status !== 200) return `open ${describeAnswer(answer)}`;
  const welcome = parseJson(answer.body);
  if (welcome === null) return 'open: not JSON';
  return { session: String(welcome['session']), secret: String(welcome['secret']) };
}

export function sessionHttpPlan(random: Random): { input: string; run(scope: CaseScope): Promise<CaseOutcome> } {
  const kind = random.pick(['odd open', 'requests', 'requests', 'requests']);
  if (kind === 'odd open') {
    const variant = random.pick(['with a body', 'header OPEN', 'header close', 'on the session path', 'protocol list', 'protocol junk']);
    return {
      input: `POST open ${variant}`,
      run: async (scope) => {
        const headers: Record<string, string> = { 'Websocksy-Session': variant === 'header OPEN' ? 'OPEN' : variant === 'header close' ? 'close' : 'open' };
        if (variant === 'protocol list') headers['Websocksy-Protocol'] = random.pick(['mqtt', 'a, b, c', '', ',,,', ` ${SESSION_PROTOCOL} `]);
        if (variant === 'protocol junk') headers['Websocksy-Protocol'] = random.pick(['x'.repeat(6000), 'a\tb', '"quoted"', 'é'.repeat(10)]);
        const path = variant === 'on the session path' ? `${SESSION_PATH}/x` : '/opened';
        const answer = await httpCall(scope.targets.port, { method: 'POST', path, headers, body: variant === 'with a body' ? Buffer.from('body') : undefined, timeoutMs: 5000 });
        if (!('failed' in answer) && answer.status === 200 && random.chance(0.5)) {
          const welcome = parseJson(answer.body);
          await httpCall(scope.targets.port, { method: 'DELETE', path: `${SESSION_PATH}/${String(welcome?.['session'])}`, headers: { Authorization: `Bearer ${String(welcome?.['secret'])}` }, timeoutMs: 3000 });
        }
        return { answer: `http open ${variant}: ${describeAnswer(answer)}` };
      },
    };
  }
  const over = random.pick<'http' | 'websocket'>(['http', 'http', 'websocket']);
  const protocols = random.pick([null, 'mqtt', 'binary, chat']);
  const drawn = Array.from({ length: random.int(1, 8) }, () => stepOf(random));
  // Most clients say when they are done; the rest leave the session to its grace (10 s after the last poll).
  const done = random.chance(0.7);
  return {
    input: `open over ${over}${protocols === null ? '' : ` (Websocksy-Protocol: ${protocols})`}, then ${drawn.map((d) => d.label).join('; ')}${done ? '; DELETE' : ''}`,
    run: async (scope) => {
      const session = await openSession(scope, scope.random, over, protocols);
      if (typeof session === 'string') return { answer: `http: not opened (${session})` };
      const ctx: Ctx = { scope, random: scope.random, session, answers: [] };
      for (const { step } of drawn) await step(ctx);
      if (done) note(ctx, 'final delete', await call(ctx, 'DELETE', `${SESSION_PATH}/${session.session}`, { Authorization: `Bearer ${session.secret}`, 'Websocksy-Takeover': '1' }));
      const counts: Record<string, number> = {};
      for (const answer of ctx.answers) counts[answer] = (counts[answer] ?? 0) + 1;
      return { answer: `http: ${ctx.answers[ctx.answers.length - 1] ?? 'nothing'}`, extras: counts };
    },
  };
}
