/*
 * Header rules of a reverse proxy (RFC 9110 §7.6.1): hop-by-hop headers, and those the
 * Connection header names, stay on their hop; X-Forwarded-For/-Proto/-Host and Forwarded
 * (RFC 7239) tell the upstream who asked; Host is the client's or the upstream's, per route.
 *
 * Who asked: websocksy appends the address it saw (the hop) to X-Forwarded-For and its own element to
 * Forwarded, so the last entry of each is always websocksy's. X-Forwarded-Proto and -Host
 * are websocksy's own; a client's are dropped unless it is a trusted proxy (`trusted-proxies`),
 * whose word for them is then kept. Everything else passes as is.
 *
 * Values reach the upstream's client (undici, or node:http under `ws`) as latin1 strings holding
 * the bytes the client sent (uWS decodes them as UTF-8; both refuse characters above U+00FF and
 * write headers as latin1), so non-ASCII values pass unchanged.
 */
import { LINK_HEADER } from '../cluster/link.js';
import type { HeaderList } from '../core/request.js';
import { lowerHeaderName } from './header-name.js';

const HOP_BY_HOP: ReadonlySet<string> = new Set(['connection', 'keep-alive', 'proxy-connection', 'proxy-authenticate', 'proxy-authorization', 'te', 'trailer', 'transfer-encoding', 'upgrade']);

/**
 * Adds the lower-case names a Connection header lists to `names`, copied from HOP_BY_HOP on
 * first need only: `keep-alive` (already there) and `close` (an option, not a header name) are
 * what almost every message lists, and need no copy.
 */
function connectionTokens(value: string, names: Set<string> | null): Set<string> | null {
  if (value === 'keep-alive' || value === 'close') return names;
  let out = names;
  for (const part of value.split(',')) {
    const token = part.trim().toLowerCase();
    if (token === '' || token === 'close' || HOP_BY_HOP.has(token)) continue;
    out ??= new Set(HOP_BY_HOP);
    out.add(token);
  }
  return out;
}

/**
 * Lower-case names of the headers that must not be forwarded, including those Connection lists.
 * Most messages have no Connection header: they share the fixed set instead of copying it.
 */
export function hopByHop(headers: HeaderList): ReadonlySet<string> {
  let names: Set<string> | null = null;
  for (const { name, value } of headers) if (name.toLowerCase() === 'connection') names = connectionTokens(value, names);
  return names ?? HOP_BY_HOP;
}

/** A header value as node:http writes the client's bytes: UTF-8 re-encoded one byte per character. */
export function wireValue(value: string): string {
  return /[^\x00-\x7f]/.test(value) ? Buffer.from(value, 'utf8').toString('latin1') : value;
}

export interface ForwardContext {
  /**
   * Who sent the request to this listener (ClientRequest.hopAddress): the TCP peer, or the
   * address a believed PROXY header carried. X-Forwarded-For's convention is that each hop
   * appends the address it saw, so a trusted proxy's own address is appended, not the client
   * it named (that one is already in the list).
   */
  readonly hopAddress: string;
  /** The listener's scheme. */
  readonly proto: 'http' | 'https';
  /** `keep` or the host:port to send instead. */
  readonly host: 'keep' | string;
  /** The client is a trusted proxy: its X-Forwarded-Proto and -Host are kept. */
  readonly trustedClient: boolean;
}

const join = (list: string, value: string): string => (list === '' ? value : `${list}, ${value}`);

/** A Forwarded parameter value: a token as is, anything else quoted (RFC 7239 §4). */
function forwardedValue(value: string): string {
  return /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/.test(value) ? value : `"${value.replace(/["\\]/g, '\\$&')}"`;
}

function forwardedElement(context: ForwardContext, host: string): string {
  const node = context.hopAddress.includes(':') ? `[${context.hopAddress}]` : context.hopAddress;
  // Built by concatenation: an array joined cost more than the rest of this on every request.
  const element = `for=${forwardedValue(node)};proto=${context.proto}`;
  return host === '' ? element : `${element};host=${forwardedValue(host)}`;
}

/** The headers to send upstream for a client request (`headers` with lower-case names, as uWS gives them). */
export function upstreamRequestHeaders(headers: HeaderList, context: ForwardContext): Record<string, string | string[]> {
  const skip = hopByHop(headers);
  const out: Record<string, string | string[]> = {};
  let clientHost = '';
  let forwardedFor = '';
  let forwarded = '';
  let proxyProto = '';
  let proxyHost = '';
  for (const { name, value: raw } of headers) {
    const value = wireValue(raw);
    if (name === 'host') clientHost = value;
    else if (name === 'x-forwarded-for') forwardedFor = join(forwardedFor, value);
    else if (name === 'forwarded') forwarded = join(forwarded, value);
    else if (name === 'x-forwarded-proto') proxyProto ||= value;
    else if (name === 'x-forwarded-host') proxyHost ||= value;
    // One Content-Length: the validator let through only repeats of the same value.
    else if (name === 'content-length') out[name] = value;
    // Expect is answered on the client's hop (uWS sends its 100 Continue); the body follows anyway.
    // The cluster's secret goes from worker to worker (cluster/siblings.ts), never further.
    else if (!skip.has(name) && name !== 'expect' && name !== LINK_HEADER) {
      const previous = out[name];
      out[name] = previous === undefined ? value : Array.isArray(previous) ? [...previous, value] : [previous, value];
    }
  }
  out['host'] = context.host === 'keep' ? clientHost : context.host;
  out['x-forwarded-for'] = join(forwardedFor, context.hopAddress);
  out['x-forwarded-proto'] = context.trustedClient && proxyProto !== '' ? proxyProto : context.proto;
  const forwardedHost = context.trustedClient && proxyHost !== '' ? proxyHost : clientHost;
  if (forwardedHost !== '') out['x-forwarded-host'] = forwardedHost;
  out['forwarded'] = join(forwarded, forwardedElement(context, clientHost));
  return out;
}

/** What the client gets of an upstream response's head. */
export interface ClientResponseHead {
  /** Name and value pairs, spelling kept. */
  readonly headers: Array<[string, string]>;
  /**
   * The upstream's Content-Length when it is one plain decimal and no transfer coding frames the
   * body, else null (the body is then sent chunked).
   */
  readonly contentLength: number | null;
}

/**
 * The upstream response's headers to pass to the client, from the upstream's raw headers (name,
 * value, name, value…, spelling kept). Content-Length and Date are left to the listener: uWS
 * frames the body itself and always writes its own Date, and a second one would be invalid.
 * Read from the raw list alone: no object of headers is built.
 */
export function clientResponseHeaders(rawHeaders: readonly string[]): ClientResponseHead {
  let listed: Set<string> | null = null;
  let contentLength: string | undefined;
  let transferCoded = false;
  for (let i = 0; i + 1 < rawHeaders.length; i += 2) {
    const name = lowerHeaderName(rawHeaders[i] as string);
    if (name === 'connection') listed = connectionTokens(rawHeaders[i + 1] as string, listed);
    // The first of several, as node:http's `headers` object kept it.
    else if (name === 'content-length' && contentLength === undefined) contentLength = rawHeaders[i + 1] as string;
    else if (name === 'transfer-encoding') transferCoded = true;
  }
  // A transfer coding overrides a length beside it, which an intermediary must drop (RFC 9112
  // §6.3): the body the parser hands on is framed by the coding, and may be of any length.
  if (transferCoded) contentLength = undefined;
  const skip: ReadonlySet<string> = listed ?? HOP_BY_HOP;
  const headers: Array<[string, string]> = [];
  for (let i = 0; i + 1 < rawHeaders.length; i += 2) {
    const name = rawHeaders[i] as string;
    const lower = lowerHeaderName(name);
    if (lower !== 'content-length' && lower !== 'date' && !skip.has(lower)) headers.push([name, rawHeaders[i + 1] as string]);
  }
  return { headers, contentLength: contentLength === undefined || !/^\d+$/.test(contentLength) ? null : Number(contentLength) };
}
