/*
 * Protected mode, for tunnel servers without an identities file (west's own configs, which
 * never authenticated): like Redis without a password, the server runs, but accepts a client
 * that only names itself from a loopback address alone, and tells any other client what its
 * operator must add. Such a client may have the server dial any destination, as west allowed,
 * and may listen nowhere.
 */
import { isLoopbackAddress } from '../lib/address-list.js';
import { printable } from '../lib/text.js';
import { AllowList, parseConnectRule } from './allow.js';
import type { Identity } from './identities.js';
import { digest } from '../lib/secret.js';

/** What a refused client and the log are told: the fix, in the operator's words. */
export const PROTECTED_MODE_REFUSAL =
  'this tunnel server has no identities file, so it accepts tunnel clients from its own host only; ' +
  'to let other hosts in, its operator adds identities = FILE to [tunnel] (wsts.identities in a west config)';

const ANYWHERE = new AllowList([parseConnectRule('*:1-65535')], []);
const NAME = /^[\x21-\x7e]{1,256}$/;

/** The identity of a name-only client, or why it is refused. */
export function protectedModeIdentity(name: unknown, client: string): Identity | string {
  if (!isLoopbackAddress(client)) return PROTECTED_MODE_REFUSAL;
  if (typeof name !== 'string' || !NAME.test(name)) return `a tunnel client names itself with 1 to 256 printable characters, not "${printable(String(name)).slice(0, 64)}"`;
  return { name, tokenDigest: digest(''), allow: ANYWHERE };
}

/** The allow-list of any identity admitted in protected mode. */
export function protectedModeAllow(): AllowList {
  return ANYWHERE;
}
