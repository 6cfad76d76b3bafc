/*
 * An HTTP/1.1 request as parts a mutation can break one at a time (method, target, version,
 * header lines, line ends, body, bytes before and after), and the good request each target
 * expects: a WebSocket handshake for the bridge, /chat, the tunnel path and the session path (or
 * a poll there), a plain request for /api.
 */
import type { Random } from '../test/helpers/random.js';
import { TUNNEL_SUBPROTOCOL } from '../src/tunnel/protocol.js';
import { SESSION_SUBPROTOCOL } from '../src/session/records.js';
import { PREFIX, type TargetName } from './target-paths.js';

export interface RequestDraft {
  method: string;
  target: string;
  /** The request line's third word; '' leaves it out (an HTTP/0.9-style line). */
  version: string;
  /** Each entry is one line, written as is (so a mutation may leave out the colon). */
  lines: string[];
  eol: string;
  body: Buffer;
  /** Bytes before the request line and after the body (a pipelined request, garbage). */
  before: Buffer;
  after: Buffer;
  /** Set by a mutation that replaced the whole request. */
  replaced: Buffer | null;
}

export function headerIndex(draft: RequestDraft, name: string): number {
  const lower = name.toLowerCase();
  return draft.lines.findIndex((line) => line.slice(0, line.indexOf(':')).trim().toLowerCase() === lower);
}

export function setHeader(draft: RequestDraft, name: string, value: string): void {
  const index = headerIndex(draft, name);
  if (index < 0) draft.lines.push(`${name}: ${value}`);
  else draft.lines[index] = `${name}: ${value}`;
}

export function removeHeader(draft: RequestDraft, name: string): void {
  for (let index = headerIndex(draft, name); index >= 0; index = headerIndex(draft, name)) draft.lines.splice(index, 1);
}

/** A random path segment that names nothing special. */
export function segment(random: Random): string {
  return random.pick(['', 'x', 'fuzz', 'a/b', 'echo', 'v', 'deep/er/path']);
}

export function newKey(random: Random): string {
  return random.bytes(16).toString('base64');
}

/** A well-formed WebSocket handshake on `path`. */
export function upgradeDraft(path: string, random: Random, protocols: string | null): RequestDraft {
  const lines = ['Host: 127.0.0.1', 'Upgrade: websocket', 'Connection: Upgrade', `Sec-WebSocket-Key: ${newKey(random)}`, 'Sec-WebSocket-Version: 13'];
  if (protocols !== null) lines.push(`Sec-WebSocket-Protocol: ${protocols}`);
  return { method: 'GET', target: path, version: 'HTTP/1.1', lines, eol: '\r\n', body: Buffer.alloc(0), before: Buffer.alloc(0), after: Buffer.alloc(0), replaced: null };
}

/** A well-formed request for the /api route: GET, or a method with a small body. */
export function plainDraft(path: string, random: Random): RequestDraft {
  const method = random.pick(['GET', 'GET', 'POST', 'PUT', 'DELETE', 'HEAD', 'OPTIONS', 'PATCH']);
  const body = method === 'POST' || method === 'PUT' || method === 'PATCH' ? random.bytes(random.pick([0, 1, 100, 5000])) : Buffer.alloc(0);
  const lines = ['Host: 127.0.0.1', 'User-Agent: websocksy-fuzz', 'Accept: */*'];
  if (body.length > 0 || method === 'POST') lines.push(`Content-Length: ${body.length}`);
  return { method, target: path, version: 'HTTP/1.1', lines, eol: '\r\n', body, before: Buffer.alloc(0), after: Buffer.alloc(0), replaced: null };
}

/** The good request for `target`, which mutations then break. */
export function baseDraft(target: TargetName, random: Random): RequestDraft {
  switch (target) {
    case 'bridge':
      return upgradeDraft(`/${segment(random)}`, random, random.chance(0.3) ? random.pick(['binary', 'base64', 'chat, superchat']) : null);
    case 'chat':
      return upgradeDraft(`${PREFIX.chat}/${segment(random)}`, random, random.chance(0.3) ? 'echo' : null);
    case 'tunnel':
      return upgradeDraft(PREFIX.tunnel, random, TUNNEL_SUBPROTOCOL);
    case 'api':
      return plainDraft(`${PREFIX.api}/${segment(random)}${random.chance(0.3) ? '?q=1&r=%20' : ''}`, random);
    case 'raw':
      return plainDraft(`${PREFIX.raw}/${segment(random)}`, random);
    case 'wsraw':
      return upgradeDraft(`${PREFIX.wsraw}/${segment(random)}`, random, null);
    case 'session':
      // A resume's upgrade, or an HTTP poll with a made-up id and secret.
      if (random.chance(0.7)) return upgradeDraft(PREFIX.session, random, SESSION_SUBPROTOCOL);
      return {
        method: 'GET', target: `${PREFIX.session}/AAAAAAAAAAAAAAAA/poll?received=0&wait=0`, version: 'HTTP/1.1', lines: ['Host: 127.0.0.1', 'Authorization: Bearer xxxxxxxxxxxxxxxxxxxxxx'],
        eol: '\r\n', body: Buffer.alloc(0), before: Buffer.alloc(0), after: Buffer.alloc(0), replaced: null,
      };
  }
}

export function render(draft: RequestDraft): Buffer {
  if (draft.replaced !== null) return draft.replaced;
  const requestLine = [draft.method, draft.target, draft.version].filter((part, index) => index < 2 || part !== '').join(' ');
  const head = [requestLine, ...draft.lines, '', ''].join(draft.eol);
  return Buffer.concat([draft.before, Buffer.from(head, 'latin1'), draft.body, draft.after]);
}
