/*
 * Checks a plugin backend's answer before the core acts on it. Builtin backends are typed and
 * check their configs at start-up; a plugin's answer may be anything (a JS plugin is untyped at
 * run time, a C one may pick any framing config), so a malformed answer refuses that one upgrade
 * with 502 and a log line saying what was wrong, and the server goes on.
 */
import type { FramingDefinition, PeerInfo } from './api.js';
import { Refusal } from './refusal.js';
import { errorMessage } from '../lib/errors.js';

export function badAnswer(backend: string, problem: string): Refusal {
  return new Refusal('bad-peer-config', 502, 'Bad peer configuration', `backend "${backend}" answered ${problem}`);
}

function optionalString(answer: Record<string, unknown>, key: string, backend: string): string | undefined {
  const value = answer[key];
  if (value === undefined || typeof value === 'string') return value;
  throw badAnswer(backend, `with a ${typeof value} as ${key}, not a string`);
}

/** A JS backend's answer as a PeerInfo (null: no peer); throws a Refusal when malformed. */
export function checkedAnswer(answer: unknown, backend: string): PeerInfo | null {
  if (answer === null) return null;
  if (typeof answer !== 'object' || Array.isArray(answer)) {
    throw badAnswer(backend, `${Array.isArray(answer) ? 'an array' : `a ${typeof answer}`}, not a PeerInfo object or null`);
  }
  const fields = answer as Record<string, unknown>;
  const host = optionalString(fields, 'host', backend);
  if (host === undefined || host === '') throw badAnswer(backend, 'without a host');
  const port = optionalString(fields, 'port', backend);
  const framing = optionalString(fields, 'framing', backend);
  const framingConfig = optionalString(fields, 'framingConfig', backend);
  const protocol = fields['protocol'];
  if (protocol !== undefined && !(typeof protocol === 'number' && Number.isInteger(protocol) && protocol >= 0)) {
    throw badAnswer(backend, `with protocol ${String(protocol)}, not an index into the offered subprotocols`);
  }
  const resumable = fields['resumable'];
  if (resumable !== undefined && typeof resumable !== 'boolean') throw badAnswer(backend, `with resumable ${String(resumable)}, not a boolean`);
  return {
    host,
    ...(port === undefined ? {} : { port }),
    ...(framing === undefined ? {} : { framing }),
    ...(framingConfig === undefined ? {} : { framingConfig }),
    ...(protocol === undefined ? {} : { protocol }),
    ...(resumable === undefined ? {} : { resumable }),
  };
}

/** Refuses an answer whose framing function rejects its config (unknown names the core refuses). */
export function checkFramingConfig(info: PeerInfo, framing: (name: string) => FramingDefinition | undefined, backend: string): void {
  const name = info.framing ?? 'auto';
  try {
    framing(name)?.checkConfig?.(info.framingConfig ?? null);
  } catch (error) {
    throw badAnswer(backend, `framing "${name}" with a config it rejects: ${errorMessage(error)}`);
  }
}
