/*
 * The tunnel path: frames before any hello, bad hellos, sessions that run a random script of
 * frames after their welcome, resumes of a session with right or wrong secrets and honest or
 * wild resume states (while the server holds data the client never credited), messages over
 * the endpoint's 1 MiB limit, and sessions that open many streams at once (past the session's
 * stream limit, sometimes). The answer is the server's greeting and how the WebSocket ended;
 * the server's frames are counted by type.
 */
import { FrameType, TUNNEL_SUBPROTOCOL } from '../src/tunnel/protocol.js';
import type { Random } from '../test/helpers/random.js';
import { wsEnding } from './answer.js';
import type { CaseOutcome, CaseScope, FuzzCase } from './fuzz-case.js';
import { delay, RawConnection } from './raw-connection.js';
import { type Targets } from './targets.js';
import { PREFIX } from './target-paths.js';
import { TunnelConversation, tunnelFrame, type ControlSeen } from './tunnel-conversation.js';
import { badHello, hello, MAX_TUNNEL_MESSAGE, resumeState, SessionScript, type Step } from './tunnel-script.js';
import { Opcode } from './ws-frame.js';

const GREETING_WAIT_MS = 3000;

async function open(scope: CaseScope): Promise<TunnelConversation | CaseOutcome> {
  const ws = await scope.upgrade(PREFIX.tunnel, TUNNEL_SUBPROTOCOL);
  return ws instanceof RawConnection ? new TunnelConversation(ws, scope.random) : ws;
}

async function play(talk: TunnelConversation, steps: readonly Step[]): Promise<void> {
  for (const step of steps) {
    if (talk.ws.closed) return;
    if ('ms' in step) await delay(step.ms);
    else talk.send(step.bytes, step.opcode);
  }
}

function greet(talk: TunnelConversation): Promise<ControlSeen | null> {
  return talk.waitForControl(['welcome', 'refuse'], GREETING_WAIT_MS);
}

/** The answer: the server's greeting and how the WebSocket ended; its frames as extras. */
function outcome(talk: TunnelConversation, greeting: ControlSeen | null, prefix = ''): CaseOutcome {
  let first = greeting === null ? 'no greeting' : greeting.type === 'refuse' ? 'refused' : 'welcome';
  if (greeting?.type === 'welcome' && prefix !== '') first = greeting.message['resumed'] === true ? 'resumed' : 'new session';
  const extras: Record<string, number> = { ...talk.counts };
  const reason = greeting?.type === 'refuse' ? String(greeting.message['reason']) : null;
  // Reasons quote client input: keep their shape, not the values.
  if (reason !== null) extras[`refused: ${reason.replace(/"[^"]*"|\d+(\.\d+)?/g, '…').slice(0, 60)}`] = 1;
  return { answer: `${prefix}${first}, ${wsEnding(talk.ws)}`, extras };
}

function steps(script: SessionScript, count: number): Step[] {
  for (let i = 0; i < count; i++) script.randomStep();
  return script.steps;
}

function show(steps: readonly Step[]): string {
  const labels = steps.map((step) => ('ms' in step ? `pause:${step.ms}` : step.label));
  return labels.length > 40 ? `${labels.slice(0, 40).join(' ')} …(${labels.length} steps)` : labels.join(' ');
}

type Plan = (random: Random, targets: Targets) => { input: string; run(scope: CaseScope): Promise<CaseOutcome> };

const preHello: Plan = (random, targets) => {
  const script = steps(new SessionScript(random, targets), random.int(1, 3));
  return {
    input: `before hello: ${show(script)}`,
    run: async (scope) => {
      const talk = await open(scope);
      if (!(talk instanceof TunnelConversation)) return talk;
      await play(talk, script);
      const greeting = await greet(talk);
      await talk.ws.waitForEnd(500);
      return outcome(talk, greeting);
    },
  };
};

const badHelloPlan: Plan = (random, targets) => {
  const step = badHello(random, targets);
  return {
    input: step.label,
    run: async (scope) => {
      const talk = await open(scope);
      if (!(talk instanceof TunnelConversation)) return talk;
      await play(talk, [step]);
      const greeting = await greet(talk);
      await talk.ws.waitForEnd(300);
      return outcome(talk, greeting);
    },
  };
};

const session: Plan = (random, targets) => {
  const identity = random.chance(0.85) ? targets.identity : targets.powerless;
  const script = steps(new SessionScript(random, targets), random.int(1, 20));
  const observeMs = random.int(200, 800);
  return {
    input: `hello as ${identity.name}, then ${show(script)}`,
    run: async (scope) => {
      const talk = await open(scope);
      if (!(talk instanceof TunnelConversation)) return talk;
      talk.send(hello(identity));
      const greeting = await greet(talk);
      if (greeting?.type === 'welcome') await play(talk, script);
      await talk.ws.waitForEnd(observeMs);
      return outcome(talk, greeting);
    },
  };
};

const resume: Plan = (random, targets) => {
  const first = new SessionScript(random, targets);
  const id = first.openEcho();
  const size = random.pick([0, 1000, 100_000, 300_000]);
  if (size > 0) first.data(id, Math.min(size, 64 * 1024));
  if (size > 64 * 1024) for (let sent = 64 * 1024; sent < size; sent += 64 * 1024) first.data(id, 64 * 1024);
  if (random.chance(0.3)) first.fin(id);
  first.pause(random.int(10, 80));
  const cut = random.pick<'fin' | 'reset' | 'close'>(['fin', 'reset', 'close']);
  const secret = random.pick(['right', 'right', 'right', 'wrong', 'missing']);
  const state = resumeState(random, id, size);
  const after = steps(new SessionScript(random, targets), random.int(0, 5));
  const observeMs = random.int(200, 600);
  const stateText = JSON.stringify(state);
  return {
    input: `hello, ${show(first.steps)}, ${cut}, resume with the ${secret} secret and state ${stateText.length > 200 ? `${stateText.slice(0, 200)}…` : stateText}, then ${show(after)}`,
    run: async (scope) => {
      const talk = await open(scope);
      if (!(talk instanceof TunnelConversation)) return talk;
      talk.send(hello(targets.identity));
      const welcome = await greet(talk);
      if (welcome?.type !== 'welcome') return outcome(talk, welcome, 'first ');
      await play(talk, first.steps);
      if (cut === 'close') talk.send(Buffer.from([0x03, 0xe8]), Opcode.close);
      else talk.ws.cut(cut);
      const again = await open(scope);
      if (!(again instanceof TunnelConversation)) return again;
      const session = String(welcome.message['session']);
      const secretText = secret === 'right' ? String(welcome.message['secret']) : secret === 'wrong' ? 'x'.repeat(43) : undefined;
      again.send(hello(targets.identity, { resume: { id: session, secret: secretText, state } }));
      const greeting = await greet(again);
      if (greeting?.type === 'welcome') await play(again, after);
      await again.ws.waitForEnd(observeMs);
      return outcome(again, greeting, 'resume: ');
    },
  };
};

const huge: Plan = (random, targets) => {
  const variant = random.pick(['before-hello', 'after-hello', 'largest-data']);
  const size = variant === 'largest-data' ? MAX_TUNNEL_MESSAGE : MAX_TUNNEL_MESSAGE + random.int(1, 64);
  return {
    input: `${variant}: one message of ${size} bytes`,
    run: async (scope) => {
      const talk = await open(scope);
      if (!(talk instanceof TunnelConversation)) return talk;
      let greeting: ControlSeen | null = null;
      if (variant !== 'before-hello') {
        talk.send(hello(targets.identity));
        greeting = await greet(talk);
      }
      if (variant === 'largest-data') {
        talk.send(tunnelFrame(FrameType.open, 1, JSON.stringify({ host: '127.0.0.1', port: targets.echoPort })));
      }
      talk.send(tunnelFrame(FrameType.data, 1, Buffer.alloc(size - 5, 0x68)));
      await talk.ws.waitForEnd(1500);
      return outcome(talk, greeting ?? (await greet(talk)));
    },
  };
};

const manyStreams: Plan = (random, targets) => {
  const count = random.chance(0.05) ? 2100 : random.pick([10, 50, 200]);
  const script = new SessionScript(random, targets);
  const ids = Array.from({ length: count }, () => script.openEcho());
  const finish = random.chance(0.5);
  const observeMs = random.int(300, 1500);
  for (const id of ids) {
    script.data(id, random.pick([1, 100, 5000]));
    if (finish) script.fin(id);
  }
  return {
    input: `hello, open ${count} streams to the echo peer, data on each${finish ? ', FIN on each' : ''}`,
    run: async (scope) => {
      const talk = await open(scope);
      if (!(talk instanceof TunnelConversation)) return talk;
      talk.send(hello(targets.identity));
      const greeting = await greet(talk);
      if (greeting?.type === 'welcome') await play(talk, script.steps);
      await talk.ws.waitForEnd(observeMs);
      return outcome(talk, greeting);
    },
  };
};

const PLANS: ReadonlyArray<readonly [string, Plan]> = [
  ['pre-hello', preHello], ['bad-hello', badHelloPlan], ['session', session], ['session', session], ['session', session],
  ['resume', resume], ['resume', resume], ['huge', huge], ['many-streams', manyStreams],
];

export function tunnelCase(random: Random, targets: Targets): FuzzCase {
  const [name, plan] = random.pick(PLANS);
  const { input, run } = plan(random, targets);
  return { kind: 'tunnel', target: 'tunnel', input: `${name}: ${input}`, run };
}
