/*
 * Where a credential travels in a request (`from = header, query:NAME, cookie:NAME,
 * subprotocol`), how it is taken out, and how the request is rid of it afterwards: a backend,
 * an upstream or a log line never sees a credential websocksy consumed.
 *
 * The subprotocol carrier is Kubernetes' form, `base64url.bearer.authorization.k8s.io.<token
 * in unpadded base64url>`: browsers cannot set headers on a WebSocket, every token fits a
 * subprotocol name that way, and clients written for Kubernetes already speak it.
 */
import type { HttpHeader } from '../core/api.js';
import type { ClientRequest } from '../core/request.js';

export const SUBPROTOCOL_PREFIX = 'base64url.bearer.authorization.k8s.io.';

export type Carrier =
  /** `Authorization: <scheme> <credential>`, the scheme in any case. */
  | { readonly kind: 'authorization'; readonly scheme: 'Bearer' | 'Basic' }
  | { readonly kind: 'query'; readonly name: string }
  | { readonly kind: 'cookie'; readonly name: string }
  | { readonly kind: 'subprotocol' };

const NAME = /^[\w.~-]+$/;

/** The `from` list of a bearer or jwt section; throws an Error saying what is wrong. */
export function parseCarriers(value: string): Carrier[] {
  const carriers: Carrier[] = [];
  for (const part of value.split(',').map((text) => text.trim())) {
    const colon = part.indexOf(':');
    const kind = colon < 0 ? part : part.slice(0, colon);
    const name = colon < 0 ? '' : part.slice(colon + 1).trim();
    if (part === 'header') carriers.push({ kind: 'authorization', scheme: 'Bearer' });
    else if (part === 'subprotocol') carriers.push({ kind: 'subprotocol' });
    else if ((kind === 'query' || kind === 'cookie') && NAME.test(name)) carriers.push({ kind, name });
    else throw new Error(`"${part}" is not header, query:NAME, cookie:NAME or subprotocol (a NAME is letters, digits, "_", ".", "~", "-")`);
  }
  if (carriers.length === 0) throw new Error('no carrier given');
  return carriers;
}

function authorization(request: ClientRequest, scheme: string): string | undefined {
  for (const { name, value } of request.headers) {
    if (name !== 'authorization') continue;
    const space = value.indexOf(' ');
    if (space > 0 && value.slice(0, space).toLowerCase() === scheme.toLowerCase()) return value.slice(space + 1).trim();
  }
  return undefined;
}

/** The query's `name=value` pairs as sent (without the `?`). */
function queryPairs(search: string): string[] {
  return search.length <= 1 ? [] : search.slice(1).split('&');
}

function pairName(pair: string): string {
  const equals = pair.indexOf('=');
  return equals < 0 ? pair : pair.slice(0, equals);
}

/** A query parameter's value, percent-decoded (`+` stays `+`: tokens hold no spaces); undefined when absent or badly encoded. */
function queryValue(search: string, name: string): string | undefined {
  for (const pair of queryPairs(search)) {
    if (pairName(pair) !== name) continue;
    try {
      return decodeURIComponent(pair.slice(name.length + 1));
    } catch {
      return undefined;
    }
  }
  return undefined;
}

function cookiePairs(value: string): string[] {
  return value.split(';').map((pair) => pair.trim()).filter((pair) => pair !== '');
}

function cookieValue(request: ClientRequest, name: string): string | undefined {
  for (const header of request.headers) {
    if (header.name !== 'cookie') continue;
    const pair = cookiePairs(header.value).find((one) => pairName(one).trim() === name);
    if (pair !== undefined) return pair.slice(pair.indexOf('=') + 1).trim();
  }
  return undefined;
}

/** The offered subprotocols (one list, as the request's headers give them). */
function protocols(request: ClientRequest): string[] {
  return request.headers.filter((header) => header.name === 'sec-websocket-protocol').flatMap((header) => header.value.split(',').map((name) => name.trim()));
}

function subprotocolToken(request: ClientRequest): string | undefined {
  const offered = protocols(request).find((name) => name.startsWith(SUBPROTOCOL_PREFIX));
  if (offered === undefined) return undefined;
  const encoded = offered.slice(SUBPROTOCOL_PREFIX.length);
  // Unpadded base64url only; Buffer would skip anything else silently.
  if (!/^[A-Za-z0-9_-]+$/.test(encoded)) return '';
  return Buffer.from(encoded, 'base64url').toString('utf8');
}

/** The credential `carrier` holds in `request`: undefined when it holds none ('' for one that is there but unreadable). */
export function takeCredential(request: ClientRequest, carrier: Carrier): string | undefined {
  switch (carrier.kind) {
    case 'authorization':
      return authorization(request, carrier.scheme);
    case 'query':
      return queryValue(request.search, carrier.name);
    case 'cookie':
      return cookieValue(request, carrier.name);
    case 'subprotocol':
      return subprotocolToken(request);
  }
}

function strippedHeader(header: HttpHeader, carriers: readonly Carrier[]): HttpHeader | null {
  if (header.name === 'authorization') {
    const scheme = header.value.split(' ', 1)[0]?.toLowerCase();
    return carriers.some((carrier) => carrier.kind === 'authorization' && carrier.scheme.toLowerCase() === scheme) ? null : header;
  }
  if (header.name === 'cookie') {
    const names = carriers.flatMap((carrier) => (carrier.kind === 'cookie' ? [carrier.name] : []));
    if (names.length === 0) return header;
    const kept = cookiePairs(header.value).filter((pair) => !names.includes(pairName(pair).trim()));
    return kept.length === 0 ? null : { name: header.name, value: kept.join('; ') };
  }
  if (header.name === 'sec-websocket-protocol' && carriers.some((carrier) => carrier.kind === 'subprotocol')) {
    const kept = header.value.split(',').map((name) => name.trim()).filter((name) => name !== '' && !name.startsWith(SUBPROTOCOL_PREFIX));
    return kept.length === 0 ? null : { name: header.name, value: kept.join(', ') };
  }
  return header;
}

/** `request` without what `carriers` may carry: the matching Authorization header, the query parameters, the cookies, the token subprotocol. */
export function withoutCredentials(request: ClientRequest, carriers: readonly Carrier[]): ClientRequest {
  const queryNames = carriers.flatMap((carrier) => (carrier.kind === 'query' ? [carrier.name] : []));
  let search = request.search;
  if (queryNames.length > 0 && search.length > 1) {
    const kept = queryPairs(search).filter((pair) => !queryNames.includes(pairName(pair)));
    search = kept.length === 0 ? '' : `?${kept.join('&')}`;
  }
  const headers: HttpHeader[] = [];
  for (const header of request.headers) {
    const kept = strippedHeader(header, carriers);
    if (kept !== null) headers.push(kept);
  }
  return { ...request, search, headers };
}
