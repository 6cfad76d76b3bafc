/*
 * The JSON bodies of the control records (HELLO, WELCOME, END, ERROR), checked where they enter:
 * a WELCOME that lacks a field would otherwise surface later as NaN offsets or a resume at
 * "undefined".
 */
import { RecordError } from './records.js';

export const SESSION_SUBPROTOCOL = 'websocksy.session.v1';

export interface Welcome {
  readonly session: string;
  /** Only in the WELCOME that opens a session. */
  readonly secret: string | undefined;
  readonly resumed: boolean;
  readonly protocol: string;
  /** Data bytes the server has from this client. */
  readonly received: number;
  readonly path: string;
  readonly graceSeconds: number;
  readonly window: number;
  readonly ackBytes: number;
}

export interface Hello {
  readonly session: string;
  readonly secret: string;
  readonly received: number;
  readonly takeover: boolean;
}

export interface EndBody {
  readonly code: number;
  readonly reason: string;
}

export interface ErrorBody {
  readonly error: string;
  readonly message: string;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

function parseObject(body: Uint8Array | string, what: string): Record<string, unknown> {
  let value: unknown;
  try {
    value = JSON.parse(typeof body === 'string' ? body : decoder.decode(body));
  } catch {
    throw new RecordError(`${what} is not JSON`);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new RecordError(`${what} is not a JSON object`);
  return value as Record<string, unknown>;
}

function text(object: Record<string, unknown>, key: string, what: string): string {
  const value = object[key];
  if (typeof value !== 'string') throw new RecordError(`${what}: "${key}" is not a string`);
  return value;
}

function count(object: Record<string, unknown>, key: string, what: string): number {
  const value = object[key];
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) throw new RecordError(`${what}: "${key}" is not a count`);
  return value;
}

/** A WELCOME record's body, or the JSON answer to an HTTP open. */
export function parseWelcome(body: Uint8Array | string): Welcome {
  const object = parseObject(body, 'WELCOME');
  if (object['v'] !== 1) throw new RecordError(`WELCOME of version ${String(object['v'])}, not 1`);
  const resumed = object['resumed'] === true;
  const secret = object['secret'];
  if (!resumed && typeof secret !== 'string') throw new RecordError('WELCOME of a new session without its secret');
  const graceSeconds = object['grace'];
  if (typeof graceSeconds !== 'number' || !(graceSeconds >= 0)) throw new RecordError('WELCOME: "grace" is not a number of seconds');
  const window = count(object, 'window', 'WELCOME');
  if (window === 0) throw new RecordError('WELCOME: "window" is 0');
  return {
    session: text(object, 'session', 'WELCOME'),
    secret: typeof secret === 'string' ? secret : undefined,
    resumed,
    protocol: typeof object['protocol'] === 'string' ? object['protocol'] : '',
    received: count(object, 'received', 'WELCOME'),
    path: text(object, 'path', 'WELCOME'),
    graceSeconds,
    window,
    ackBytes: Math.max(1, count(object, 'ackBytes', 'WELCOME')),
  };
}

export function encodeHello(hello: Hello): Uint8Array<ArrayBuffer> {
  return encoder.encode(JSON.stringify({ v: 1, session: hello.session, secret: hello.secret, received: hello.received, takeover: hello.takeover }));
}

export function encodeEnd(end: EndBody): Uint8Array<ArrayBuffer> {
  return encoder.encode(JSON.stringify({ code: end.code, reason: end.reason }));
}

export function parseEnd(body: Uint8Array): EndBody {
  const object = parseObject(body, 'END');
  return { code: count(object, 'code', 'END'), reason: typeof object['reason'] === 'string' ? object['reason'] : '' };
}

export function parseError(body: Uint8Array): ErrorBody {
  const object = parseObject(body, 'ERROR');
  return { error: text(object, 'error', 'ERROR'), message: typeof object['message'] === 'string' ? object['message'] : '' };
}
