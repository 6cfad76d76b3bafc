/*
 * Malformed handshakes and request lines: a good request for one of the four targets, broken
 * by one to three mutations (mutations.ts), written in one to four pieces. The answer is the
 * first thing the server says, or how it closed without saying anything.
 */
import type { Random } from '../test/helpers/random.js';
import { answerOf } from './answer.js';
import { showBytes, type FuzzCase } from './fuzz-case.js';
import { mutate } from './mutations.js';
import { baseDraft, render, upgradeDraft } from './request-draft.js';
import { type Targets } from './targets.js';
import { PREFIX, TARGETS } from './target-paths.js';
import { closePayload, clientFrame, Opcode } from './ws-frame.js';

/** uWS holds some requests ~10-12 s before closing without a word: wait that out. */
const ANSWER_WAIT_MS = 15_000;

export function handshakeCase(random: Random, targets: Targets): FuzzCase {
  const target = random.pick(TARGETS);
  // An upgrade under /api is the bridge's (docs/routes.md): it is fuzzed there too.
  const upgrade = target !== 'api' || random.chance(0.3);
  const draft = target === 'api' && upgrade ? upgradeDraft(`${PREFIX.api}/x`, random, null) : baseDraft(target, random);
  const done = mutate(draft, random, { port: targets.port, canaryPort: targets.canaryPort, prefix: target === 'bridge' ? '' : PREFIX[target] }, upgrade);
  const bytes = render(draft);
  return {
    kind: 'handshake',
    target,
    input: `${done.join(' ')} | ${showBytes(bytes)}`,
    run: async (scope) => {
      const connection = await scope.connect();
      await connection.sendInPieces(bytes, scope.random);
      await connection.waitForHead(ANSWER_WAIT_MS);
      const extras = { '100 Continue first': connection.interimAnswers };
      if (connection.head?.status !== 101) return { answer: answerOf(connection), extras };
      connection.send(clientFrame(Opcode.close, closePayload(1000)));
      await connection.waitForEnd(300);
      return { answer: 'http 101', extras };
    },
  };
}
