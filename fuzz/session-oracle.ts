/*
 * The session oracle: a client that keeps every rule of docs/sessions.md against a scripted
 * peer (bridge-peer.ts), over one to five transports in a row (WebSocket or HTTP, cut by an
 * RST, a FIN, a close frame, or a poll abandoned mid-wait, then resumed after a moment with or
 * without takeover). It must get the peer's output exactly once and in order, and the peer
 * must hear its input exactly once and in order: checked byte by byte on both sides as the
 * data flows, and for completeness once the session ended cleanly. Any violation is an oracle
 * finding. A session it cannot have (the limit met, or expired while the fuzzer was slow to
 * come back) is counted, not found.
 */
import type { Random } from '../test/helpers/random.js';
import type { CaseOutcome, CaseScope } from './fuzz-case.js';
import { OracleState } from './oracle-client.js';
import { cutWebSocket, endHttp, endWebSocket, openHttp, openWebSocket, resumeWebSocket, runHttp, runWebSocket, type Leg, type Refused } from './oracle-legs.js';
import { delay } from './raw-connection.js';
import { SESSION_PROTOCOL, SessionTalk } from './session-wire.js';

/** The fuzzer's session-grace (targets.ts), in ms: the shortest websocksy takes. */
export const GRACE_MS = 1000;
/** The whole exchange after the last resume must be through by then. */
const FINISH_MS = 15_000;
/** After a clean end, the peer's side closes within this. */
const PEER_CLOSE_MS = 3000;

type Transport = 'websocket' | 'http';

interface Stretch {
  readonly transport: Transport;
  readonly ms: number;
  readonly cut: 'reset' | 'fin' | 'close' | 'abort-poll' | 'stop';
  readonly awayMs: number;
  /** Whether the resume that follows asks for takeover at once. */
  readonly takeover: boolean;
}

function stretch(random: Random, transport: Transport): Stretch {
  return {
    transport,
    ms: random.int(20, 400),
    cut: transport === 'websocket' ? random.pick(['reset', 'fin', 'close'] as const) : random.pick(['abort-poll', 'stop'] as const),
    awayMs: random.pick([0, 5, 50, 200]),
    takeover: random.chance(0.6),
  };
}

function showStretch(s: Stretch): string {
  return `${s.transport} ${s.ms} ms, ${s.cut}, away ${s.awayMs} ms, resume${s.takeover ? ' with takeover' : ''}`;
}

export function oraclePlan(random: Random): { input: string; run(scope: CaseScope): Promise<CaseOutcome> } {
  const seed = random.int(0, 0x7fffffff);
  const outputBytes = random.pick([0, 1000, 40_000, 200_000, 600_000]);
  const sizes = Array.from({ length: random.int(0, 30) }, () => random.pick([1, 10, 100, 1000, 4096, 30_000]));
  const offer = random.pick([SESSION_PROTOCOL, `binary, ${SESSION_PROTOCOL}`, `${SESSION_PROTOCOL}, chat`]);
  const open = random.pick<Transport>(['websocket', 'websocket', 'http']);
  const stretches: Stretch[] = [];
  for (let i = random.int(0, 4), transport = open; i > 0; i--, transport = random.pick<Transport>(['websocket', 'websocket', 'http'])) stretches.push(stretch(random, transport));
  const last = stretches.length === 0 ? open : random.pick<Transport>(['websocket', 'http']);
  const ending = last === 'http' ? random.pick(['delete', 'end-record'] as const) : 'end-record';
  const input = `oracle ${seed}: peer says ${outputBytes} bytes, client sends ${sizes.length} records (${sizes.reduce((a, b) => a + b, 0)} bytes); open over ${open}${open === 'websocket' ? ` offering "${offer}"` : ''}; ${stretches.map(showStretch).join('; ') || 'no cut'}; finish over ${last}, ${ending}`;
  return {
    input,
    run: (scope) => runOracle({ scope, state: new OracleState(seed, { outputBytes, sizes }), random: scope.random, extras: {} }, { open, offer, stretches, last, ending }),
  };
}

interface Script {
  readonly open: Transport;
  readonly offer: string;
  readonly stretches: readonly Stretch[];
  readonly last: Transport;
  readonly ending: 'delete' | 'end-record';
}

/** Resumes over `transport`; a 4409 for a resume without takeover is asked again with it. */
async function resume(leg: Leg, transport: Transport, takeover: boolean): Promise<SessionTalk | 'http' | Refused> {
  if (transport === 'http') return 'http';
  const first = await resumeWebSocket(leg, takeover);
  if (first instanceof SessionTalk || first.refused !== 'attached' || takeover) return first;
  return resumeWebSocket(leg, true);
}

async function runOracle(leg: Leg, script: Script): Promise<CaseOutcome> {
  const { state } = leg;
  const path = `/oracle/${state.seed}`;
  const opened = script.open === 'websocket' ? await openWebSocket(leg, path, script.offer) : await openHttp(leg, path, null);
  if (opened !== true && !(opened instanceof SessionTalk)) return finish(leg, `not opened: ${opened.refused}`);
  let talk: SessionTalk | null = opened instanceof SessionTalk ? opened : null;
  let takeover = false;
  let cutAt = 0;
  const steps = [...script.stretches, { transport: script.last, ms: FINISH_MS, cut: 'stop', awayMs: 0, takeover: true } as const];
  for (const [index, step] of steps.entries()) {
    const final = index === steps.length - 1;
    if (index > 0) {
      const resumed = await resume(leg, step.transport, takeover);
      if (!(resumed instanceof SessionTalk) && resumed !== 'http') return finish(leg, lost(leg, resumed, Date.now() - cutAt));
      talk = resumed === 'http' ? null : resumed;
    }
    const until = Date.now() + step.ms;
    if (talk !== null) await runWebSocket(leg, talk, until, final);
    else {
      const stopped = await runHttp(leg, until, takeover, final, step.cut === 'abort-poll');
      if (stopped !== null) return finish(leg, lost(leg, stopped, Date.now() - cutAt));
    }
    if (state.violation !== null || state.serverEnd !== null) break;
    if (final) break;
    if (talk !== null) await cutWebSocket(talk, step.cut === 'reset' || step.cut === 'fin' ? step.cut : 'close');
    cutAt = Date.now();
    takeover = step.takeover;
    await delay(step.awayMs);
  }
  if (state.serverEnd !== null) state.violate(`the server ended the session (END ${JSON.stringify(state.serverEnd)}) though its peer never closed and its client kept the rules`);
  if (state.violation !== null) return finish(leg, 'violation');
  if (!state.done) {
    state.violate(`not through within ${FINISH_MS / 1000} s of the last resume: ${state.received} of ${state.plan.outputBytes} output bytes, the server has ${state.serverHas} of ${state.inputTotal} input bytes`);
    return finish(leg, 'violation');
  }
  if (talk !== null) await endWebSocket(leg, talk);
  else await endHttp(leg, script.ending);
  await checkPeerHeardAll(leg);
  return finish(leg, state.violation === null ? 'clean end, all bytes once and in order' : 'violation');
}

/** A resume refused: expected for a session that expired while the client was away longer than the grace; else a violation. */
function lost(leg: Leg, refused: Refused, awayMs: number): string {
  if (refused.refused === 'no-session' && awayMs < GRACE_MS * 0.8) leg.state.violate(`resume after ${awayMs} ms away (grace ${GRACE_MS} ms): no-session`);
  else if (refused.refused === 'wrong-secret' || refused.refused === 'bad-hello' || refused.refused === 'attached') leg.state.violate(`resume refused with ${refused.refused} (takeover was asked)`);
  return `lost at a resume: ${refused.refused}`;
}

async function checkPeerHeardAll(leg: Leg): Promise<void> {
  const { state, scope } = leg;
  const peer = scope.targets.bridgePeer;
  const until = Date.now() + PEER_CLOSE_MS;
  while (Date.now() < until && peer.sighting(state.seed)?.closed !== true) await delay(20);
  const seen = peer.sighting(state.seed);
  if (seen === undefined) state.violate('the peer never heard the session');
  else if (seen.heard !== state.payloadTotal) state.violate(`after a clean end the peer heard ${seen.heard} of ${state.payloadTotal} input bytes`);
  else if (!seen.closed) leg.extras['peer not closed 3 s after the end'] = 1;
}

function finish(leg: Leg, answer: string): CaseOutcome {
  const { state, scope } = leg;
  scope.targets.bridgePeer.forget(state.seed);
  if (state.violation !== null) scope.targets.found(`session oracle ${state.seed}: ${state.violation}`);
  return { answer: `oracle: ${answer}`, extras: { ...leg.extras, 'oracle output bytes checked': state.received } };
}
