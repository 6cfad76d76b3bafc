/*
 * The upstream as the attacker: one to three requests on the `/raw` route (GET, or POST and
 * PUT with bodies up to 4 MiB), at once or one after another, each answered by the scripted
 * upstream as upstream-menu.ts drew it. Three oracles: a valid response reaches its client
 * exactly (status and body); no client ever sees poison, the response the upstream sent behind
 * a complete one (a pool that reused that connection would hand it to the next request); and
 * every request is answered, with a status or a cut, well within the route's timeout rules.
 */
import type { Random } from '../test/helpers/random.js';
import type { FuzzCase } from './fuzz-case.js';
import { describeAnswer, httpCall, type HttpAnswer } from './http-call.js';
import { PREFIX } from './target-paths.js';
import { ANSWER_MS, RAW_TIMEOUT_MS } from './scripted-upstream.js';
import { drawAnswer, POISON, type DrawnAnswer } from './upstream-menu.js';

interface Planned {
  readonly token: string;
  readonly method: string;
  readonly body: Buffer | undefined;
  readonly drawn: DrawnAnswer;
}

/** What one answer says against what was expected; null when nothing is wrong. */
function judge(planned: Planned, answer: HttpAnswer): string | null {
  if ('failed' in answer) return answer.failed === 'timed out' ? `no answer within ${ANSWER_MS} ms` : null;
  if (answer.body.includes(POISON)) return `a body with the poison in it: ${JSON.stringify(answer.body.subarray(0, 120).toString('latin1'))}`;
  const { expectation } = planned.drawn;
  if (!('exact' in expectation)) return null;
  const { status, body } = expectation.exact;
  if (answer.status === status && answer.body.equals(body)) return null;
  return `http ${answer.status} with ${answer.body.length} bytes, where the upstream sent a valid ${status} with ${body.length} (${answer.body.equals(body) ? 'same body' : 'another body'})`;
}

export function upstreamCase(random: Random): FuzzCase {
  const planned: Planned[] = [];
  for (let i = random.int(1, 3); i > 0; i--) {
    const token = `${random.bytes(6).toString('hex')}${i}`;
    const method = random.pick(['GET', 'GET', 'POST', 'PUT']);
    const body = method === 'GET' ? undefined : Buffer.alloc(random.pick([0, 10, 100_000, 4 * 1024 * 1024]), 0x71);
    planned.push({ token, method, body, drawn: drawAnswer(token, random, RAW_TIMEOUT_MS, (body?.length ?? 0) > 0) });
  }
  const together = random.chance(0.5);
  const input = `${together ? 'at once' : 'one after another'}: ${planned.map((one) => `${one.method} …/${one.token} ${one.body?.length ?? 0} bytes ← ${one.drawn.label}`).join('; ')}`;
  return {
    kind: 'upstream',
    target: 'raw',
    input,
    run: async (scope) => {
      const { scripted } = scope.targets;
      for (const one of planned) scripted.script(one.token, one.drawn.script);
      const ask = (one: Planned): Promise<HttpAnswer> =>
        httpCall(scope.targets.port, {
          method: one.method,
          path: `${PREFIX.raw}/${one.token}`,
          headers: one.body === undefined ? {} : { 'content-length': String(one.body.length) },
          body: one.body,
          timeoutMs: ANSWER_MS,
        });
      const answers: HttpAnswer[] = [];
      try {
        if (together) answers.push(...(await Promise.all(planned.map(ask))));
        else for (const one of planned) answers.push(await ask(one));
      } finally {
        for (const one of planned) scripted.forget(one.token);
      }
      const extras: Record<string, number> = {};
      let first = 'no request';
      planned.forEach((one, index) => {
        const answer = answers[index] as HttpAnswer;
        const wrong = judge(one, answer);
        if (wrong !== null) scope.targets.found(`upstream case, ${one.method} ${PREFIX.raw}/${one.token} ← ${one.drawn.label}: ${wrong}`);
        const expected = 'exact' in one.drawn.expectation ? 'valid' : one.drawn.expectation.expected;
        const shown = `${expected} → ${describeAnswer(answer)}`;
        if (index === 0) first = shown;
        extras[shown] = (extras[shown] ?? 0) + 1;
      });
      // The first request's answer is counted; every request's is among the extras.
      return { answer: first, extras };
    },
  };
}
