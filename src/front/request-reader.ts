/*
 * The one request validator: every request and every upgrade, whatever serves it, is read here
 * once, before anything that throws on bad input (node:http, `ws`, `new URL`) can see it.
 *   - header names are tokens and values hold no control characters (RFC 9110 §5.1, §5.5);
 *   - Host appears once; Content-Length values agree and are decimal; Transfer-Encoding is
 *     `chunked` and never beside Content-Length (RFC 9112 §6.3: the smuggling cases);
 *     Sec-WebSocket-Key and -Version appear at most once (RFC 6455 §11.3);
 *   - the path is normalised (path.ts), the query kept as sent (a bare `?` included).
 * A request that fails gets a 400 (501 for a transfer coding we do not know) naming the rule,
 * and nothing else happens.
 */
import type { HttpRequest, HttpResponse } from 'uWebSockets.js';
import { Refusal } from '../core/refusal.js';
import type { HttpHeader } from '../core/api.js';
import type { ClientRequest, HeaderList } from '../core/request.js';
import { isFieldName, isFieldValue } from '../lib/http-field.js';
import { resolveClientAddress, remoteAddressOf, type ClientAddressPolicy } from './client-address.js';
import { normalisePath } from './path.js';
import { extended } from '../lib/extended.js';

const QUERY = /^[\x21-\x7e\x80-\uffff]*$/;
/** Headers whose repetition makes a request ambiguous. */
const SINGLETONS: readonly string[] = ['host', 'sec-websocket-key', 'sec-websocket-version'];

function bad(detail: string, body = 'Bad request'): Refusal {
  return new Refusal('bad-request', 400, body, detail);
}

interface BodyFraming {
  readonly hasBody: boolean;
}

function checkHeaders(headers: HeaderList): BodyFraming | Refusal {
  // Which SINGLETONS were seen, one bit each: no set to allocate per request.
  let seen = 0;
  let contentLength: string | null = null;
  let transferEncoding: string | null = null;
  for (const { name, value } of headers) {
    if (!isFieldName(name)) return bad(`header name "${name}" is not a token`);
    if (!isFieldValue(value)) return bad(`header ${name} holds a control character`);
    const singleton = SINGLETONS.indexOf(name);
    if (singleton >= 0) {
      if ((seen & (1 << singleton)) !== 0) return bad(`header ${name} appears more than once`);
      seen |= 1 << singleton;
    }
    if (name === 'content-length') {
      if (!/^\d{1,15}$/.test(value)) return bad(`Content-Length "${value}" is not a decimal length`);
      if (contentLength !== null && Number(contentLength) !== Number(value)) return bad('two different Content-Length headers');
      contentLength = value;
    } else if (name === 'transfer-encoding') {
      if (transferEncoding !== null) return bad('Transfer-Encoding appears more than once');
      transferEncoding = value;
    }
  }
  if (transferEncoding !== null) {
    if (transferEncoding.trim().toLowerCase() !== 'chunked') {
      return new Refusal('not-implemented', 501, 'Transfer coding not implemented', `Transfer-Encoding "${transferEncoding}" (only chunked is understood)`);
    }
    if (contentLength !== null) return bad('both Transfer-Encoding and Content-Length');
    return { hasBody: true };
  }
  return { hasBody: contentLength !== null && Number(contentLength) > 0 };
}

/** What the log says about a request that was refused before it could be read whole. */
export interface RefusedRequest {
  readonly id: number;
  readonly method: string;
  readonly rawPath: string;
  readonly clientAddress: string;
  readonly remoteAddress: string;
  readonly refusal: Refusal;
}

/** A request refused before its client's address was known: the log names the TCP peer. */
function refusedEarly(res: HttpResponse, request: { id: number; method: string; rawPath: string }, refusal: Refusal): RefusedRequest {
  const remoteAddress = remoteAddressOf(res);
  return extended(request, { clientAddress: remoteAddress, remoteAddress, refusal });
}

/** Reads and checks `req`; only valid inside the uWS handler that received it. */
export function readRequest(res: HttpResponse, req: HttpRequest, id: number, policy: ClientAddressPolicy): ClientRequest | RefusedRequest {
  const headers: HttpHeader[] = [];
  req.forEach((name, value) => headers.push({ name, value }));
  const rawPath = req.getUrl();
  const method = req.getMethod().toUpperCase();
  const framing = checkHeaders(headers);
  // The addresses come from headers too: none is read from a request that breaks the grammar.
  if (framing instanceof Refusal) return refusedEarly(res, { id, method, rawPath }, framing);
  const addresses = resolveClientAddress(res, headers, policy, id);
  if (addresses instanceof Refusal) return refusedEarly(res, { id, method, rawPath }, addresses);
  const normalised = normalisePath(rawPath);
  if ('problem' in normalised) return { id, method, rawPath, ...addresses, refusal: bad(normalised.problem) };
  // getQuery() is undefined without a `?`, and '' for a bare one, which is kept.
  const query: string | undefined = req.getQuery();
  if (query !== undefined && !QUERY.test(query)) return { id, method, rawPath, ...addresses, refusal: bad('query holds a control character or space') };
  // One literal, no spread: every request gets the same object shape, made without copying.
  return {
    id,
    method,
    rawPath,
    clientAddress: addresses.clientAddress,
    remoteAddress: addresses.remoteAddress,
    hopAddress: addresses.hopAddress,
    path: normalised.path,
    search: query === undefined ? '' : `?${query}`,
    headers,
    hasBody: framing.hasBody,
  };
}

export function isRefused(read: ClientRequest | RefusedRequest): read is RefusedRequest {
  return 'refusal' in read;
}
