/*
 * The upstream of a WebSocket route as the attacker: one client upgrade on `/wsraw` (sometimes
 * two at once), each answered by the scripted WebSocket upstream as ws-upstream-menu.ts drew
 * it. The client sends 0-3 valid messages, reads what websocksy relays until the WebSocket
 * ends, and closes it itself when the upstream went silent after a valid 101. Oracles:
 * - every upgrade is answered within ANSWER_MS, never with 101 when the upstream's answer was
 *   broken, always with 101 (and its subprotocol) when it was valid;
 * - after a 101, the valid messages the upstream sent before its violation or ending reach the
 *   client exactly and in order, text as text, and nothing it sent after a violation or its
 *   close frame does;
 * - the WebSocket ends within ANSWER_MS of the upstream's ending: with its close code and
 *   reason after a valid close frame, with a close frame without a code after one, with a failure code (1002, 1007, 1009, 1011, 1014) or a
 *   cut after a violation, a FIN or an RST; a client that closes a quiet one is answered, and
 *   its close code reaches the upstream;
 * - the upstream gets the client's messages exactly (a prefix of them when its side ended
 *   first), over exactly one connection per upgrade.
 */
import type { Random } from '../test/helpers/random.js';
import { answerOf } from './answer.js';
import { validUtf8 } from './frame-menu.js';
import { closeCleanly, type CaseScope, type FuzzCase } from './fuzz-case.js';
import { delay, type RawConnection } from './raw-connection.js';
import { render, upgradeDraft } from './request-draft.js';
import { ANSWER_MS, RAW_TIMEOUT_MS } from './scripted-upstream.js';
import type { UpstreamSight } from './scripted-ws-upstream.js';
import { PREFIX } from './target-paths.js';
import { AFTER_VIOLATION, drawWsScript, type DrawnWsScript, type Ending } from './ws-upstream-menu.js';
import { clientFrame, closePayload, MessageJoiner, Opcode, type WsMessage } from './ws-frame.js';

/** The client keeps every message whole (the upstream's are up to 300 KB). */
const KEEP_BYTES = 1024 * 1024;
/** How long a client waits past the messages it expects before closing a quiet WebSocket: more would show. */
const SETTLE_MS = 200;
/** What websocksy may close with when its upstream failed (ws-relay.ts sends 1014; the reader's codes are also fair). */
const FAILURE_CODES: readonly number[] = [1002, 1007, 1009, 1011, 1014];
const CLIENT_CLOSE_CODES = [1000, 1001, 1011, 1012, 3000, 4000, 4999];
const OFFERS: ReadonlyArray<readonly string[]> = [[], [], ['chat'], ['chat', 'superchat']];
/** The upstream's endings as the answers are counted: what the client is owed after each. */
const ENDING_NAMES: Readonly<Record<Ending['kind'], string>> = { code: 'valid close', empty: 'empty close', failure: 'failure', open: 'quiet' };

interface Planned {
  readonly token: string;
  readonly offered: readonly string[];
  readonly drawn: DrawnWsScript;
  /** What the client sends after its 101 (masked frames) and the messages they carry. */
  readonly sent: readonly WsMessage[];
  readonly frames: Buffer;
  /** The code the client closes a quiet WebSocket with. */
  readonly closeCode: number;
}

interface Conversation {
  readonly answer: string;
  readonly problems: string[];
}

function plan(random: Random, index: number): Planned {
  const token = `${random.bytes(6).toString('hex')}${index}`;
  const offered = random.pick(OFFERS);
  const drawn = drawWsScript(token, random, offered, RAW_TIMEOUT_MS);
  const sent = Array.from({ length: random.int(0, 3) }, (): WsMessage => {
    const binary = random.chance(0.5);
    const size = random.pick([0, 1, 100, 1000, 70_000]);
    return { binary, data: binary ? random.bytes(size) : validUtf8(random, size) };
  });
  const frames = Buffer.concat(sent.map((message) => clientFrame(message.binary ? Opcode.binary : Opcode.text, message.data, random.bytes(4))));
  return { token, offered, drawn, sent, frames, closeCode: random.pick(CLIENT_CLOSE_CODES) };
}

function describe(message: WsMessage): string {
  return `${message.binary ? 'binary' : 'text'} of ${message.data.length} bytes`;
}

function same(a: WsMessage, b: WsMessage): boolean {
  return a.binary === b.binary && a.data.equals(b.data);
}

/** What is wrong with the messages `got`, against the `expected` ones; null when nothing is. */
function messageProblem(got: readonly WsMessage[], expected: readonly WsMessage[], prefixOnly: boolean, who: string): string | null {
  if (got.some((message) => message.data.includes(AFTER_VIOLATION))) return `${who} got the message the upstream sent after its violation or close frame`;
  for (let i = 0; i < Math.max(got.length, expected.length); i++) {
    const gotten = got[i];
    const wanted = expected[i];
    if (wanted === undefined) return `${who} got ${got.length - expected.length} message(s) more than were validly sent (the first: ${describe(gotten as WsMessage)})`;
    if (gotten === undefined) return prefixOnly ? null : `${who} got ${i} of ${expected.length} messages (the first missing: ${describe(wanted)})`;
    if (!same(gotten, wanted)) return `${who}'s message ${i + 1} of ${expected.length} is ${describe(gotten)}, where ${describe(wanted)} was sent`;
  }
  return null;
}

/** What is wrong with how the client's WebSocket ended after the upstream's `ending`; null when nothing is. */
function endingProblem(ending: Ending, close: Buffer | null): string | null {
  const code = close !== null && close.length >= 2 ? close.readUInt16BE(0) : null;
  if (ending.kind === 'code') {
    if (close === null) return `a cut without a close frame, where the upstream closed with ${ending.code}`;
    const reason = close.subarray(2).toString('utf8');
    if (code === ending.code && reason === ending.reason) return null;
    return `close ${code ?? '(empty)'} ${JSON.stringify(reason.slice(0, 60))}, where the upstream closed with ${ending.code} ${JSON.stringify(ending.reason.slice(0, 60))}`;
  }
  if (ending.kind === 'empty' && (close === null || close.length !== 0)) return `${close === null ? 'a cut without a close frame' : `close ${code ?? '(one byte)'}`}, where the upstream closed with a close frame without a code`;
  if (ending.kind === 'failure' && close !== null && (code === null || !FAILURE_CODES.includes(code))) return `close ${code ?? '(empty)'} after the upstream failed, not one of ${FAILURE_CODES.join(', ')}`;
  return null;
}

/**
 * uWS 20.30 reads a client's close code from 1012 to 3999 as invalid (it reports 1006 and
 * answers with an empty close frame), so websocksy never learns it and closes the upstream
 * without a code (measured 2026-12-06; fuzz/README.md, "Engine behaviour it tolerates").
 */
function uwsDropsCloseCode(code: number): boolean {
  return code > 1011 && code < 4000;
}

/** The subprotocol in a head's Sec-WebSocket-Protocol ('' for none). */
function protocolOf(head: string): string {
  return /\r\nsec-websocket-protocol: *([^\r]*)/i.exec(head)?.[1]?.trim() ?? '';
}

/** One client's upgrade and WebSocket, judged; `answer` is what the server answered. */
async function converse(scope: CaseScope, one: Planned, sight: UpstreamSight): Promise<Conversation> {
  const problems: string[] = [];
  const { drawn } = one;
  const ws = await scope.connect(KEEP_BYTES);
  const received: WsMessage[] = [];
  const joiner = new MessageJoiner();
  // Set by the frame handler: an object, so that the checks below read it as it is then.
  const seen: { close: Buffer | null } = { close: null };
  ws.onFrame = (frame) => {
    if (seen.close !== null) problems.push(`a frame of opcode ${frame.opcode} after websocksy's close frame`);
    if (frame.opcode === Opcode.close) seen.close = frame.payload;
    const message = joiner.push(frame);
    if (message !== null) received.push(message);
  };
  // A connection the end of the run cut says nothing of websocksy.
  const done = (answer: string): Conversation => ({ answer, problems: ws.cutByUs ? [] : problems });
  ws.send(render(upgradeDraft(`${PREFIX.wsraw}/${one.token}`, scope.random, one.offered.length === 0 ? null : one.offered.join(', '))));
  if (!(await ws.waitForHead(ANSWER_MS)) || ws.head === null) {
    problems.push(ws.closed ? 'the connection was cut without an answer to the upgrade' : `no answer to the upgrade within ${ANSWER_MS} ms`);
    return done(answerOf(ws));
  }
  if (ws.head.status === 0) problems.push(`an answer to the upgrade that is not HTTP: ${JSON.stringify(ws.head.text.slice(0, 80))}`);
  else if (ws.head.status !== 101 && drawn.handshake.must === 'accept') problems.push(`http ${ws.head.status}, where the upstream's 101 was valid`);
  if (ws.head.status !== 101) return done(answerOf(ws));
  if (drawn.handshake.must === 'refuse') {
    problems.push("101, where the upstream's answer to the upgrade was broken");
    return done(answerOf(ws));
  }
  const protocol = protocolOf(ws.head.text);
  if (protocol !== drawn.handshake.protocol) problems.push(`101 with the subprotocol "${protocol}", where the upstream chose "${drawn.handshake.protocol}"`);
  ws.send(one.frames);
  const ended = (): boolean => seen.close !== null || ws.serverEnd !== null;
  if (drawn.ending.kind === 'open') problems.push(...(await closeQuiet(ws, one, sight, ended, () => received.length)));
  else if (!(await ws.waitFor(ended, ANSWER_MS)) && !ended()) problems.push(`the WebSocket did not end within ${ANSWER_MS} ms of the 101, though the upstream ended it`);
  else {
    const wrong = endingProblem(drawn.ending, seen.close);
    if (wrong !== null) problems.push(wrong);
  }
  const relayed = messageProblem(received, drawn.messages, drawn.prefixOnly, 'the client');
  if (relayed !== null) problems.push(relayed);
  const upstream = messageProblem(sight.messages, one.sent, drawn.ending.kind !== 'open', 'the upstream');
  if (upstream !== null) problems.push(upstream);
  const answer = answerOf(ws);
  // A quiet WebSocket was closed by the client already.
  if (drawn.ending.kind !== 'open') await closeCleanly(ws);
  return done(answer);
}

/**
 * The upstream went quiet after valid frames: the WebSocket stays open. Once the messages are
 * in, the client closes it; websocksy must answer, and pass the code on to the upstream.
 */
async function closeQuiet(ws: RawConnection, one: Planned, sight: UpstreamSight, ended: () => boolean, count: () => number): Promise<string[]> {
  const expected = one.drawn.messages.length;
  await ws.waitFor(() => count() >= expected, ANSWER_MS);
  await delay(SETTLE_MS);
  if (ended()) return [`the WebSocket ended (${answerOf(ws)}) though the upstream only went quiet`];
  ws.send(clientFrame(Opcode.close, closePayload(one.closeCode)));
  if (!(await ws.waitFor(ended, ANSWER_MS)) && !ended()) return [`the client's close ${one.closeCode} was not answered within ${ANSWER_MS} ms`];
  if (!(await sight.closed(ANSWER_MS))) return [`the client's close ${one.closeCode} did not reach the upstream within ${ANSWER_MS} ms`];
  const frame = sight.closeFrame;
  const code = frame !== null && frame.length >= 2 ? frame.readUInt16BE(0) : null;
  if (code === one.closeCode || (code === null && uwsDropsCloseCode(one.closeCode))) return [];
  return [`the client closed with ${one.closeCode}, and the upstream got ${frame === null ? 'no close frame' : `close ${code ?? '(empty)'}`}`];
}

export function wsUpstreamCase(random: Random): FuzzCase {
  const planned = Array.from({ length: random.chance(0.25) ? 2 : 1 }, (_, index) => plan(random, index + 1));
  const shown = (one: Planned): string =>
    `${PREFIX.wsraw}/${one.token}${one.offered.length === 0 ? '' : ` (offers ${one.offered.join(', ')})`}, ${one.sent.length} message(s) sent ← ${one.drawn.label}`;
  return {
    kind: 'wsupstream',
    target: 'wsraw',
    input: `${planned.length === 2 ? 'at once: ' : ''}${planned.map(shown).join('; ')}`,
    run: async (scope) => {
      const { wsScripted } = scope.targets;
      const sights = planned.map((one) => wsScripted.script(one.token, one.drawn.script));
      let conversations: Conversation[];
      try {
        conversations = await Promise.all(planned.map((one, index) => converse(scope, one, sights[index] as UpstreamSight)));
      } finally {
        for (const one of planned) wsScripted.forget(one.token);
      }
      const extras: Record<string, number> = {};
      planned.forEach((one, index) => {
        const { answer, problems } = conversations[index] as Conversation;
        const sight = sights[index] as UpstreamSight;
        if (sight.requests > 1) problems.push(`websocksy opened ${sight.requests} upstream connections for one upgrade`);
        for (const problem of problems) scope.targets.found(`wsupstream case, ${PREFIX.wsraw}/${one.token} ← ${one.drawn.label}: ${problem}`);
        const { must } = one.drawn.handshake;
        const expected = must === 'accept' ? `101, ${ENDING_NAMES[one.drawn.ending.kind]}` : must;
        const key = `${expected} → ${answer}`;
        extras[key] = (extras[key] ?? 0) + 1;
        extras['pongs the upstream got'] = (extras['pongs the upstream got'] ?? 0) + sight.pongs;
      });
      // The first upgrade's answer is counted; every upgrade's is among the extras.
      return { answer: conversations[0]?.answer ?? 'no upgrade', extras };
    },
  };
}
