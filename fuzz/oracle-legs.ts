/*
 * How the session oracle's client moves its session along one transport for a while: open it
 * (a WebSocket offering websocksy.session.v1, or POST with `Websocksy-Session: open`), resume it
 * (HELLO on the session path, or polls with the bearer secret), run it (send input within the
 * window, acknowledge output as docs/sessions.md asks, read what comes) until a deadline or
 * until everything is through, and end it (END, or DELETE). Refusals a correct client can meet
 * are returned; anything else is noted on the state as a violation.
 */
import type { Random } from '../test/helpers/random.js';
import type { CaseScope } from './fuzz-case.js';
import { httpCall, type HttpAnswer } from './http-call.js';
import type { OracleState } from './oracle-client.js';
import { delay, RawConnection } from './raw-connection.js';
import { httpRecord, parseJson, R, readHttpRecords, record, SESSION_PATH, SESSION_PROTOCOL, SessionTalk } from './session-wire.js';
import { closePayload, clientFrame, Opcode } from './ws-frame.js';

const GREETING_MS = 3000;
/** A POST carries at most this much input (far below any window). */
const POST_BUDGET = 64 * 1024;

/** Why a transport could not take the session: a refusal's name, `503`, or a failure. */
export type Refused = { readonly refused: string };

export interface Leg {
  readonly scope: CaseScope;
  readonly state: OracleState;
  readonly random: Random;
  readonly extras: Record<string, number>;
}

function note(leg: Leg, name: string): void {
  leg.extras[name] = (leg.extras[name] ?? 0) + 1;
}

/** Takes a WELCOME's fields; `opening` one must carry the secret. */
function welcomed(leg: Leg, welcome: Record<string, unknown>, opening: boolean, where: string): void {
  const { state } = leg;
  const { session, secret, ackBytes, received, resumed } = welcome;
  if (opening) {
    if (typeof session !== 'string' || !/^[\w-]{16}$/.test(session) || typeof secret !== 'string' || !/^[\w-]{22}$/.test(secret)) {
      state.violate(`${where}: a WELCOME without a proper session and secret: ${JSON.stringify(welcome).slice(0, 200)}`);
      return;
    }
    state.session = session;
    state.secret = secret;
  } else if (secret !== undefined || resumed !== true || session !== state.session) state.violate(`${where}: a resume's WELCOME ${JSON.stringify(welcome).slice(0, 200)}`);
  if (typeof ackBytes === 'number' && ackBytes > 0) state.ackBytes = ackBytes;
  state.serverCount(received, `${where} WELCOME`);
  state.rewind();
}

function chosenProtocol(connection: RawConnection): string | null {
  return /^sec-websocket-protocol:[ \t]*(.*?)[ \t]*$/im.exec(connection.head?.text ?? '')?.[1] ?? null;
}

async function sessionSocket(leg: Leg, path: string, offer: string): Promise<SessionTalk | Refused> {
  const connection = await leg.scope.connect();
  const talk = new SessionTalk(connection, leg.random);
  talk.onRecord = (got) => {
    if (got.type !== R.welcome) leg.state.onRecord(got, 'websocket');
  };
  connection.send(Buffer.from(`GET ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: ${leg.random.bytes(16).toString('base64')}\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: ${offer}\r\n\r\n`));
  await connection.waitForHead(GREETING_MS);
  const status = connection.head?.status;
  if (status !== 101) return { refused: status === undefined ? 'no answer to the upgrade' : `http ${status}` };
  if (chosenProtocol(connection) !== SESSION_PROTOCOL) leg.state.violate(`${path}: the 101 chose ${JSON.stringify(chosenProtocol(connection))}, not ${SESSION_PROTOCOL}`);
  return talk;
}

export async function openWebSocket(leg: Leg, path: string, offer: string): Promise<SessionTalk | Refused> {
  const talk = await sessionSocket(leg, path, offer);
  if (!(talk instanceof SessionTalk)) return talk;
  if ((await talk.greeting(GREETING_MS)) !== 'welcome') return { refused: `no WELCOME (${JSON.stringify(talk.error)})` };
  welcomed(leg, talk.welcome ?? {}, true, 'open');
  return talk;
}

export async function openHttp(leg: Leg, path: string, protocols: string | null): Promise<true | Refused> {
  const headers: Record<string, string> = { 'Websocksy-Session': 'open', ...(protocols === null ? {} : { 'Websocksy-Protocol': protocols }) };
  const answer = await httpCall(leg.scope.targets.port, { method: 'POST', path, headers, timeoutMs: 5000 });
  if ('failed' in answer || answer.status !== 200) return { refused: 'failed' in answer ? answer.failed : `http ${answer.status}` };
  const welcome = parseJson(answer.body);
  if (welcome === null) {
    leg.state.violate(`open over HTTP: the answer is not a WELCOME's JSON: ${answer.body.toString('latin1').slice(0, 200)}`);
    return { refused: 'malformed WELCOME' };
  }
  welcomed(leg, welcome, true, 'open over HTTP');
  return true;
}

/** A HELLO on the session path; a refusal's error name when the server says no. */
export async function resumeWebSocket(leg: Leg, takeover: boolean): Promise<SessionTalk | Refused> {
  const talk = await sessionSocket(leg, SESSION_PATH, SESSION_PROTOCOL);
  if (!(talk instanceof SessionTalk)) return talk;
  const { state } = leg;
  talk.send(record(R.hello, JSON.stringify({ v: 1, session: state.session, secret: state.secret, received: state.received, takeover })));
  const greeting = await talk.greeting(GREETING_MS);
  if (greeting === 'error') return { refused: String(talk.error?.['error']) };
  if (greeting === null) return { refused: 'no greeting' };
  welcomed(leg, talk.welcome ?? {}, false, 'resume');
  return talk;
}

/** Runs the session on `talk` until `until`, or until everything is through when `untilDone`. */
export async function runWebSocket(leg: Leg, talk: SessionTalk, until: number, untilDone: boolean): Promise<void> {
  const { state, random } = leg;
  while (Date.now() < until && !talk.ws.closed && state.violation === null && state.serverEnd === null) {
    if (untilDone && state.done) return;
    for (const { type, body } of state.take(random.pick([1, 4096, 65_536]))) talk.send(record(type, body));
    const now = Date.now();
    if (state.ackDue(now)) talk.send(state.ackRecord(now));
    await delay(random.int(2, 25));
  }
}

export async function cutWebSocket(talk: SessionTalk, how: 'reset' | 'fin' | 'close'): Promise<void> {
  if (how !== 'close') {
    talk.ws.cut(how);
    return;
  }
  talk.ws.send(clientFrame(Opcode.close, closePayload(1001)));
  await talk.ws.waitForEnd(300);
  talk.ws.cut('fin');
}

/** END, then the server closes with 1000. */
export async function endWebSocket(leg: Leg, talk: SessionTalk): Promise<void> {
  talk.send(record(R.end, JSON.stringify({ code: 1000, reason: 'oracle done' })));
  await talk.ws.waitForEnd(3000);
  const close = talk.ws.closeFrame;
  const code = close !== undefined && close.payload.length >= 2 ? close.payload.readUInt16BE(0) : null;
  if (code !== 1000 && !talk.ws.cutByUs) leg.state.violate(`END over WebSocket: the server closed with ${code ?? 'no close frame'}, not 1000`);
}

function authHeaders(leg: Leg, takeover: boolean): Record<string, string> {
  return { Authorization: `Bearer ${leg.state.secret}`, ...(takeover ? { 'Websocksy-Takeover': '1' } : {}) };
}

/** What an HTTP answer to a correct request may be: 200, or a refusal a correct client can meet. */
function checked(leg: Leg, answer: HttpAnswer, what: string): { readonly body: Buffer } | Refused {
  if ('failed' in answer) return { refused: answer.failed };
  if (answer.status === 200) return { body: answer.body };
  if (answer.status === 404) return { refused: 'no-session' };
  if (answer.status === 409) return { refused: 'attached' };
  leg.state.violate(`${what}: http ${answer.status} ${answer.body.toString('latin1').slice(0, 200)}`);
  return { refused: `http ${answer.status}` };
}

function takeAnswer(leg: Leg, body: Buffer, what: string): void {
  const records = readHttpRecords(body);
  if (typeof records === 'string') leg.state.violate(`${what}: the answer is malformed (${records})`);
  else for (const got of records) leg.state.onRecord(got, what);
}

/**
 * Runs the session over HTTP until `until` (or everything is through): polls one after another,
 * and POSTs of the input beside them. The first request takes the session over when `takeover`;
 * a 409 asks again with takeover (a correct client may). Ends with the refusal that stopped it, if any.
 */
export async function runHttp(leg: Leg, until: number, takeover: boolean, untilDone: boolean, abortLastPoll: boolean): Promise<Refused | null> {
  const { state, random, scope } = leg;
  const base = `${SESSION_PATH}/${state.session}`;
  let take = takeover;
  let stopped: Refused | null = null;
  const going = (): boolean => stopped === null && Date.now() < until && state.violation === null && state.serverEnd === null && !(untilDone && state.done);
  const poll = async (wait: number, abortAfterMs?: number): Promise<void> => {
    const answer = await httpCall(scope.targets.port, { method: 'GET', path: `${base}/poll?received=${state.received}&wait=${wait}`, headers: authHeaders(leg, take), timeoutMs: wait * 1000 + 3000, abortAfterMs });
    if (abortAfterMs !== undefined) return;
    const taken = checked(leg, answer, 'poll');
    if ('body' in taken) takeAnswer(leg, taken.body, 'poll');
    else if (taken.refused === 'attached' && !take) take = true;
    else stopped = taken;
  };
  // The first poll attaches the session and says, with its ACK, where the input goes on.
  await poll(0);
  state.rewind();
  const sending = (async () => {
    for (let posts = 0; posts < 1000 && going(); posts++) {
      const batch = state.take(random.pick([1, 4096, POST_BUDGET]));
      if (batch.length === 0) {
        await delay(random.int(5, 30));
        continue;
      }
      const body = Buffer.concat(batch.map(({ type, body }) => httpRecord(type, body)));
      const answer = await httpCall(scope.targets.port, { method: 'POST', path: `${base}/send?offset=${batch[0]?.start ?? 0}`, headers: authHeaders(leg, take), body, timeoutMs: 5000 });
      const taken = checked(leg, answer, 'send');
      if ('body' in taken) takeAnswer(leg, taken.body, 'send');
      else {
        state.rewind();
        if (taken.refused === 'attached' && !take) take = true;
        else if (taken.refused === 'no-session') stopped = taken;
      }
    }
  })();
  for (let polls = 0; polls < 1000 && going(); polls++) await poll(random.pick([0, 0, 1]));
  await sending;
  if (abortLastPoll && stopped === null) {
    note(leg, 'poll aborted mid-wait');
    await poll(5, random.int(20, 200));
  }
  return stopped;
}

/** DELETE, or a POST carrying END: the session ends. */
export async function endHttp(leg: Leg, how: 'delete' | 'end-record'): Promise<void> {
  const { state, scope } = leg;
  const base = `${SESSION_PATH}/${state.session}`;
  const answer = how === 'delete'
    ? await httpCall(scope.targets.port, { method: 'DELETE', path: base, headers: authHeaders(leg, true), timeoutMs: 5000 })
    : await httpCall(scope.targets.port, { method: 'POST', path: `${base}/send?offset=${state.inputTotal}`, headers: authHeaders(leg, true), body: httpRecord(R.end, '{"code":1000,"reason":"oracle done"}'), timeoutMs: 5000 });
  if ('failed' in answer) note(leg, `end over HTTP failed: ${answer.failed}`);
  else if (answer.status !== 200) state.violate(`end over HTTP (${how}): http ${answer.status} ${answer.body.toString('latin1').slice(0, 200)}`);
}
