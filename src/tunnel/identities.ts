/*
 * The identities file: one line per identity that may open tunnels,
 *   <name> <token> [connect=<rule>,...] [listen=[<bind>:]<port|lo-hi>,...]
 * with `#` comments; connect= rules are tcp destination rules (lib/destination-rules.ts:
 * `host:ports` or `tcp:host:ports`). Only token digests are kept in memory. Re-read on SIGHUP (server.ts).
 */
import { readFileSync } from 'node:fs';
import { AllowList, parseConnectRule, parseListenRule, type ConnectRule, type ListenRule } from './allow.js';
import { digest } from '../lib/secret.js';
import { errorCode } from '../lib/errors.js';

export interface Identity {
  readonly name: string;
  readonly tokenDigest: Buffer;
  readonly allow: AllowList;
}

export class IdentitiesError extends Error {
  /** `line` is absent when the file as a whole is at fault (it cannot be read). */
  constructor(file: string, line: number | null, message: string) {
    super(line === null ? `${file}: ${message}` : `${file}:${line}: ${message}`);
    this.name = 'IdentitiesError';
  }
}

export function readIdentities(file: string): Map<string, Identity> {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    throw new IdentitiesError(file, null, `cannot read identities file: ${errorCode(error)}`);
  }
  const identities = new Map<string, Identity>();
  text.split(/\r?\n/).forEach((raw, index) => {
    const line = raw.replace(/(^|\s)#.*$/, '').trim();
    if (line === '') return;
    const fail = (message: string): never => {
      throw new IdentitiesError(file, index + 1, message);
    };
    const [name, token, ...options] = line.split(/\s+/);
    if (name === undefined || token === undefined) return fail('expected "<name> <token> [connect=...] [listen=...]"');
    if (/^(?:connect|listen)=/.test(token)) fail(`identity "${name}" has no token: its second field is ${token.slice(0, token.indexOf('='))}=...`);
    if (!/^[\w.@-]+$/.test(name)) fail(`identity name "${name}" may only hold letters, digits and . _ - @`);
    if (identities.has(name)) fail(`identity "${name}" is defined twice`);
    const connect: ConnectRule[] = [];
    const listen: ListenRule[] = [];
    options.forEach((option, position) => {
      const equals = option.indexOf('=');
      const key = option.slice(0, equals);
      const values = option.slice(equals + 1).split(',').filter((value) => value !== '');
      try {
        if (key === 'connect') connect.push(...values.map(parseConnectRule));
        else if (key === 'listen') listen.push(...values.map(parseListenRule));
        // The word is not echoed: on a line that holds a token, it may be part of one.
        else fail(`field ${position + 3} of identity "${name}" is neither connect=... nor listen=... (tokens may not contain spaces)`);
      } catch (error) {
        if (error instanceof IdentitiesError) throw error;
        fail(`${key} of identity "${name}": ${(error as Error).message}`);
      }
    });
    identities.set(name, { name, tokenDigest: digest(token), allow: new AllowList(connect, listen) });
  });
  return identities;
}
