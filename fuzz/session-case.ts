/*
 * The `session` class: resumable sessions attacked at every edge (docs/sessions.md). Over
 * WebSocket: sessions opened with websocksy.session.v1 alone or beside other subprotocols that
 * then get a run of records valid and malformed (session-menu.ts); connections cut by an RST or
 * a FIN at random points (mid-record, right after the WELCOME, during a replay); resumes with
 * valid and hostile HELLOs sent whole, split across frames, as a text frame, after a data
 * record, twice, or never; many sessions at once (the session limit). Over HTTP: the plans of
 * session-http-case.ts. And the oracle (session-oracle.ts), a client that keeps the rules and
 * must get every byte once and in order. The answer is how the server greeted and ended.
 */
import type { Random } from '../test/helpers/random.js';
import { wsEnding } from './answer.js';
import type { CaseOutcome, CaseScope, FuzzCase } from './fuzz-case.js';
import { delay } from './raw-connection.js';
import { segment } from './request-draft.js';
import { helloPick, recordStep, garbageJson, type RecordStep, type SessionKeys } from './session-menu.js';
import { sessionHttpPlan } from './session-http-case.js';
import { oraclePlan } from './session-oracle.js';
import { R, record, SESSION_PATH, SESSION_PROTOCOL, SessionTalk } from './session-wire.js';
import { closePayload, clientFrame, Opcode } from './ws-frame.js';

const GREETING_MS = 3000;
/** The server's HELLO timeout (session-socket.ts), and a margin. */
const HELLO_TIMEOUT_MS = 10_000;

type Plan = (random: Random) => { input: string; run(scope: CaseScope): Promise<CaseOutcome> };

/** A session WebSocket on `path` offering `offer`, or the outcome when the upgrade is refused. */
async function sessionSocket(scope: CaseScope, path: string, offer: string): Promise<SessionTalk | CaseOutcome> {
  const ws = await scope.upgrade(path, offer);
  return 'answer' in ws ? ws : new SessionTalk(ws, scope.random);
}

/** Opens a session on the bridge; the outcome when there is none (refused, 503 at the limit, no WELCOME). */
async function open(scope: CaseScope, offer: string): Promise<SessionTalk | CaseOutcome> {
  const talk = await sessionSocket(scope, `/${segment(scope.random)}`, offer);
  if (!(talk instanceof SessionTalk)) return talk;
  if ((await talk.greeting(GREETING_MS)) !== 'welcome') return { answer: `open: no WELCOME, ${wsEnding(talk.ws)}` };
  return talk;
}

function keysOf(talk: SessionTalk): SessionKeys {
  return { session: String(talk.welcome?.['session']), secret: String(talk.welcome?.['secret']), received: talk.dataBytes };
}

async function play(talk: SessionTalk, steps: readonly RecordStep[]): Promise<void> {
  for (const step of steps) {
    if (talk.ws.closed) return;
    if ('ms' in step) await delay(step.ms);
    else {
      const bytes = step.make({ received: talk.dataBytes });
      if (step.pieces > 1) talk.sendFragmented(bytes, step.pieces);
      else talk.send(bytes, step.opcode);
    }
  }
}

function outcome(talk: SessionTalk, prefix: string): CaseOutcome {
  const error = talk.error === null ? '' : ` ${String(talk.error['error'])}`;
  const end = talk.end === null ? '' : `, END ${String(talk.end['code'])}`;
  return { answer: `${prefix}${talk.welcome !== null ? 'welcome' : talk.error !== null ? `error${error}` : 'no greeting'}${end}, ${wsEnding(talk.ws)}`, extras: { ...talk.counts } };
}

const OFFERS = [SESSION_PROTOCOL, SESSION_PROTOCOL, `binary, ${SESSION_PROTOCOL}`, `${SESSION_PROTOCOL}, chat, superchat`];

function steps(random: Random): RecordStep[] {
  const drawn = Array.from({ length: random.int(1, 12) }, () => recordStep(random));
  // Data after END: the session is over, and what follows must change nothing.
  if (random.chance(0.2)) drawn.push({ label: 'end', make: () => record(R.end, '{"code":1000,"reason":"done"}'), opcode: Opcode.binary, pieces: 1 }, { label: 'data-after-end', make: () => record(R.binary, 'late'), opcode: Opcode.binary, pieces: 1 });
  if (random.chance(0.1)) drawn.push({ label: 'end-garbage', make: () => record(R.end, garbageJson(random)), opcode: Opcode.binary, pieces: 1 });
  return drawn;
}

function show(drawn: readonly RecordStep[]): string {
  const labels = drawn.map((step) => ('ms' in step ? `pause:${step.ms}` : step.label));
  return labels.join(' ');
}

const records: Plan = (random) => {
  const offer = random.pick(OFFERS);
  const drawn = steps(random);
  const observeMs = random.int(100, 600);
  return {
    input: `open offering "${offer}", then ${show(drawn)}`,
    run: async (scope) => {
      const talk = await open(scope, offer);
      if (!(talk instanceof SessionTalk)) return talk;
      await play(talk, drawn);
      await talk.ws.waitForEnd(observeMs);
      return outcome(talk, 'records: ');
    },
  };
};

const cut: Plan = (random) => {
  const point = random.pick(['right after the WELCOME', 'mid-record', 'with data in flight', 'right after a resume', 'during a replay']);
  const mode = random.pick<'fin' | 'reset'>(['fin', 'reset']);
  const size = random.pick([10, 5000, 60_000]);
  return {
    input: `open, cut (${mode}) ${point}, ${size}-byte records`,
    run: async (scope) => {
      const talk = await open(scope, SESSION_PROTOCOL);
      if (!(talk instanceof SessionTalk)) return talk;
      const data = record(R.binary, Buffer.alloc(size, 0x63));
      if (point === 'mid-record') {
        const frame = clientFrame(Opcode.binary, data);
        talk.ws.send(frame.subarray(0, scope.random.int(1, frame.length - 1)));
      } else if (point !== 'right after the WELCOME') for (let i = 0; i < 5; i++) talk.send(data);
      if (point === 'right after a resume' || point === 'during a replay') {
        // Let the echo come back unacknowledged, so that the resume replays it.
        await talk.ws.waitFor(() => talk.dataBytes >= 5 * size, 500);
        talk.ws.cut(mode);
        const again = await sessionSocket(scope, SESSION_PATH, SESSION_PROTOCOL);
        if (!(again instanceof SessionTalk)) return again;
        again.send(record(R.hello, JSON.stringify({ v: 1, ...keysOf(talk), received: 0, takeover: true })));
        if (point === 'during a replay') await again.ws.waitFor(() => again.dataBytes > 0, 500);
        else await again.greeting(GREETING_MS);
        again.ws.cut(mode);
        return outcome(again, `cut ${point}: `);
      }
      await delay(scope.random.pick([0, 1, 20]));
      talk.ws.cut(mode);
      return { answer: `cut ${point} (${mode})` };
    },
  };
};

const hello: Plan = (random) => {
  const pick = helloPick(random);
  const before = random.pick(['cut', 'cut', 'attached', 'close frame']);
  const delivery = random.pick(['whole', 'whole', 'whole', 'split across frames', 'as a text frame', 'after a data record', 'twice', 'never']);
  return {
    input: `open, ${before}, then on the session path ${pick.label} ${delivery}${pick.mustRefuse ? ' (must be refused)' : ''}`,
    run: async (scope) => {
      const first = await open(scope, SESSION_PROTOCOL);
      if (!(first instanceof SessionTalk)) return first;
      first.send(record(R.binary, 'hello before the cut'));
      await first.ws.waitFor(() => first.dataBytes >= 20, 300);
      const keys = keysOf(first);
      if (before === 'cut') first.ws.cut('reset');
      else if (before === 'close frame') first.ws.send(clientFrame(Opcode.close, closePayload(1001)));
      const talk = await sessionSocket(scope, SESSION_PATH, SESSION_PROTOCOL);
      if (!(talk instanceof SessionTalk)) return talk;
      const bytes = pick.make(keys);
      if (delivery === 'split across frames') talk.sendFragmented(bytes, scope.random.int(2, 6));
      else if (delivery === 'as a text frame') talk.send(bytes, Opcode.text);
      else if (delivery === 'after a data record') talk.send(record(R.binary, 'early'));
      if (delivery === 'whole' || delivery === 'after a data record' || delivery === 'twice') talk.send(bytes);
      if (delivery === 'twice') {
        await talk.greeting(GREETING_MS);
        talk.send(bytes);
      }
      const greeting = await talk.greeting(delivery === 'never' ? HELLO_TIMEOUT_MS + 2000 : GREETING_MS);
      if (greeting === 'welcome' && (pick.mustRefuse || delivery === 'as a text frame')) {
        scope.targets.found(`session ${keys.session}: ${pick.label} (${delivery}) was welcomed: ${showWelcome(talk)}`);
      }
      await talk.ws.waitForEnd(300);
      return outcome(talk, `${pick.mustRefuse ? 'hostile' : 'valid'} hello ${delivery}: `);
    },
  };
};

function showWelcome(talk: SessionTalk): string {
  return JSON.stringify(talk.welcome).slice(0, 200);
}

const many: Plan = (random) => {
  const count = random.pick([5, 10, 20, 20, 300]);
  return {
    input: `open ${count} sessions at once, then cut them all`,
    run: async (scope) => {
      const opened = await Promise.all(Array.from({ length: count }, () => open(scope, SESSION_PROTOCOL)));
      const welcomed = opened.filter((talk) => talk instanceof SessionTalk).length;
      const refused: Record<string, number> = {};
      for (const talk of opened) if (!(talk instanceof SessionTalk)) refused[talk.answer] = (refused[talk.answer] ?? 0) + 1;
      for (const talk of opened) if (talk instanceof SessionTalk) talk.ws.cut('reset');
      return { answer: `many: ${welcomed === count ? 'all' : welcomed === 0 ? 'none' : 'some'} welcomed`, extras: { welcomed, ...refused } };
    },
  };
};

const PLANS: ReadonlyArray<readonly [string, number, Plan]> = [
  ['oracle', 30, (random) => oraclePlan(random)],
  ['records', 15, records],
  ['cut', 10, cut],
  ['hello', 20, hello],
  ['many', 2, many],
  ['http', 22, (random) => sessionHttpPlan(random)],
];

export function sessionCase(random: Random): FuzzCase {
  const total = PLANS.reduce((sum, [, weight]) => sum + weight, 0);
  let roll = random.next() * total;
  let chosen = PLANS[0] as (typeof PLANS)[number];
  for (const entry of PLANS) {
    roll -= entry[1];
    if (roll < 0) {
      chosen = entry;
      break;
    }
  }
  const [name, , plan] = chosen;
  const { input, run } = plan(random);
  return { kind: 'session', target: 'session', input: `${name}: ${input}`, run };
}
