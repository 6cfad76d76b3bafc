/*
 * Expands a file-backend expression such as `peers/%endpoint%.txt` for one request.
 * `%endpoint%`, `%client%` (the client's address: the real one when trusted proxies named it,
 * docs/client-address.md), `%cookie:NAME%`, `%header:Name%`, and for a client that an `[auth]`
 * section admitted `%user%` and `%claim:NAME%` (docs/auth.md), are replaced; any other `%…%`
 * text stays.
 */
import type { PeerQuery } from '../core/api.js';
import { claimValue, cookieValue, endpointValue, headerValue } from './request-values.js';

const VARIABLE = /%(endpoint|client|user|cookie:[^%]+|header:[^%]+|claim:[^%]+)%/g;

function lookUp(variable: string, query: PeerQuery): string | undefined {
  if (variable === 'endpoint') return endpointValue(query.endpoint);
  if (variable === 'client') return query.clientAddress;
  if (variable === 'user') return query.auth?.user ?? undefined;
  const colon = variable.indexOf(':');
  const name = variable.slice(colon + 1);
  if (variable.startsWith('claim:')) return claimValue(query.auth?.claims ?? null, name);
  return variable.startsWith('cookie:') ? cookieValue(query.headers, name) : headerValue(query.headers, name);
}

/** True when the expression names a request value, so the client chooses the file. */
export function takesRequestValues(expression: string): boolean {
  return new RegExp(VARIABLE.source).test(expression);
}

/**
 * The expression with every variable replaced, or undefined when a variable is missing from
 * the request or its value holds a NUL (which no file name can). Every `/` in an inserted
 * value becomes `_`, so a value names one file and never a directory path (websocksy).
 */
export function expandExpression(expression: string, query: PeerQuery): string | undefined {
  let complete = true;
  const expanded = expression.replace(VARIABLE, (_match, variable: string) => {
    const value = lookUp(variable, query);
    if (value === undefined || value.includes('\0')) {
      complete = false;
      return '';
    }
    return value.replaceAll('/', '_');
  });
  return complete ? expanded : undefined;
}
