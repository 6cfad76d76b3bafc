/*
 * Who may read the status and act on it. Reading: with a token, whoever sends it as
 * `Authorization: Bearer` (compared in constant time on digests); with `loopbackClientsOnly`,
 * only clients whose real address is on this host. The status page's shell and its script and
 * style files hold no data, so they need only the address check. Acting (closing a connection,
 * draining) takes a configured token, sent as a bearer header: a browser never adds one to a
 * request by itself, so another site cannot make an operator's browser act; on top of that, a
 * request a browser marks as coming from another origin (Origin, Sec-Fetch-Site) is refused.
 * Without a token nothing proves the request came from the page: a site the operator visits
 * could reach a loopback listener (DNS rebinding gets past an Origin check), so no actions then.
 * The refusals say what to send or where to ask, never the token.
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

/** Why `request` may not see even the page's shell (a client not on this host, under loopbackClientsOnly), or null. */
export function addressRefusal(request: ClientRequest, access: StatusAccess): Refusal | null {
  if (access.loopbackClientsOnly && !isLoopbackAddress(request.clientAddress)) {
    return new Refusal('forbidden', 403, 'Forbidden: the status is served to this host only', 'status read from another host (clients = loopback, no token)');
  }
  return null;
}

function tokenRefusal(request: ClientRequest, tokenDigest: Buffer): Refusal | null {
  const given = BEARER.exec(headerValue(request, 'authorization') ?? '')?.[1];
  if (given === undefined || !sameSecret(given, tokenDigest)) {
    const why = given === undefined ? 'status read without a bearer token' : 'status read with a wrong token';
    return new Refusal('credentials', 401, 'Unauthorized', why, { 'WWW-Authenticate': 'Bearer realm="websocksy status"' });
  }
  return null;
}

/** Why `request` may not read the status, or null. */
export function statusRefusal(request: ClientRequest, access: StatusAccess): Refusal | null {
  const refusal = addressRefusal(request, access);
  if (refusal !== null || access.tokenDigest === null) return refusal;
  return tokenRefusal(request, access.tokenDigest);
}

/** The host and port of an Origin (`scheme://host[:port]`), lower-case; null for `null` or anything else. */
function originHost(origin: string): string | null {
  return /^[a-z][a-z0-9+.-]*:\/\/([^/?#@]+)$/i.exec(origin)?.[1]?.toLowerCase() ?? null;
}

/** Why a browser sent `request` on another site's behalf, or null when nothing says it did. */
function crossSiteRefusal(request: ClientRequest): Refusal | null {
  const origin = headerValue(request, 'origin');
  const host = headerValue(request, 'host')?.toLowerCase();
  if (origin !== undefined && (host === undefined || originHost(origin) !== host)) {
    return new Refusal('forbidden', 403, 'Forbidden: status actions are taken from the status page only', `status action from origin ${origin.slice(0, 100)} on host ${host ?? '(none)'}`);
  }
  const site = headerValue(request, 'sec-fetch-site');
  if (site !== undefined && site !== 'same-origin' && site !== 'none') {
    return new Refusal('forbidden', 403, 'Forbidden: status actions are taken from the status page only', `status action with Sec-Fetch-Site: ${site.slice(0, 40)}`);
  }
  return null;
}

/** Why `request` may not act (close a connection, drain), or null. */
export function actionRefusal(request: ClientRequest, access: StatusAccess): Refusal | null {
  const refusal = addressRefusal(request, access) ?? crossSiteRefusal(request);
  if (refusal !== null) return refusal;
  if (access.tokenDigest === null) return new Refusal('forbidden', 403, 'Forbidden: status actions need a [status] token', 'status action without a configured token');
  return tokenRefusal(request, access.tokenDigest);
}
