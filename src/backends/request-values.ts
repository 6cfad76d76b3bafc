/*
 * The request values a file-backend expression can name: the endpoint, a cookie, a header, a
 * JWT claim. Undefined means "not in this request", which skips the expression.
 */
import type { HttpHeader, PeerAuth } from '../core/api.js';

/**
 * The request path without its leading `/` and without one trailing `/`, so `/test` and
 * `/test/` name the same file. The query string stays part of it, as in websocksy.
 */
export function endpointValue(endpoint: string): string | undefined {
  const withoutLead = endpoint.startsWith('/') ? endpoint.slice(1) : endpoint;
  const value = withoutLead.endsWith('/') ? withoutLead.slice(0, -1) : withoutLead;
  return value === '' ? undefined : value;
}

/** The first header of that name, compared case-insensitively (the core lower-cases names). */
export function headerValue(headers: readonly HttpHeader[], name: string): string | undefined {
  const lower = name.toLowerCase();
  const value = headers.find((header) => header.name === lower)?.value;
  return value === '' ? undefined : value;
}

/**
 * The first cookie called `name` (case-sensitive, as cookie names are) in any `cookie` header.
 * Pairs are split on `;` with or without spaces; websocksy wanted exactly "; ".
 */
export function cookieValue(headers: readonly HttpHeader[], name: string): string | undefined {
  for (const header of headers) {
    if (header.name !== 'cookie') continue;
    for (const pair of header.value.split(';')) {
      const equals = pair.indexOf('=');
      if (equals < 0 || pair.slice(0, equals).trim() !== name) continue;
      const value = pair.slice(equals + 1).trim();
      return value === '' ? undefined : value;
    }
  }
  return undefined;
}

/**
 * A JWT claim as text: a string as it is, a number or a boolean written out; absent, empty,
 * null, an object or an array (which have no one spelling as a file name) is undefined.
 */
export function claimValue(claims: PeerAuth['claims'], name: string): string | undefined {
  const value = claims !== null && Object.hasOwn(claims, name) ? claims[name] : undefined;
  if (typeof value === 'string') return value === '' ? undefined : value;
  return typeof value === 'number' || typeof value === 'boolean' ? String(value) : undefined;
}
