/*
 * Who may read the status JSON: with a token, whoever sends it as `Authorization: Bearer`
 * (compared in constant time on digests); with `loopbackClientsOnly`, only clients whose real
 * address is on this host. The refusals say what to send or where to ask, never the token.
 */
import { Refusal } from '../core/refusal.js';
import { headerValue, type ClientRequest } from '../core/request.js';
import { isLoopbackAddress } from '../lib/address-list.js';
import { sameSecret } from '../lib/secret.js';

export interface StatusAccess {
  readonly tokenDigest: Buffer | null;
  readonly loopbackClientsOnly: boolean;
}

const BEARER = /^Bearer[ \t]+(\S+)[ \t]*$/i;

/** Why `request` may not read the status, or null. */
export function statusRefusal(request: ClientRequest, access: StatusAccess): Refusal | null {
  if (access.loopbackClientsOnly && !isLoopbackAddress(request.clientAddress)) {
    return new Refusal(403, 'Forbidden: the status is served to this host only', 'status read from another host (clients = loopback, no token)');
  }
  if (access.tokenDigest === null) return null;
  const given = BEARER.exec(headerValue(request, 'authorization') ?? '')?.[1];
  if (given === undefined || !sameSecret(given, access.tokenDigest)) {
    const why = given === undefined ? 'status read without a bearer token' : 'status read with a wrong token';
    return new Refusal(401, 'Unauthorized', why, { 'WWW-Authenticate': 'Bearer realm="websocksy status"' });
  }
  return null;
}
