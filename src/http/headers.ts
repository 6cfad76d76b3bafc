/*
 * Header rules of a reverse proxy (RFC 9110 §7.6.1): hop-by-hop headers, and those the
 * Connection header names, stay on their hop; X-Forwarded-For/-Proto/-Host tell the upstream
 * who asked; Host is the client's or the upstream's, per route. Everything else passes as is.
 */
import type { OutgoingHttpHeaders } from 'node:http';

const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'proxy-authenticate', 'proxy-authorization', 'te', 'trailer', 'transfer-encoding', 'upgrade']);

export type HeaderList = ReadonlyArray<readonly [name: string, value: string]>;

/** Lower-case names of the headers that must not be forwarded, including those Connection lists. */
export function hopByHop(headers: HeaderList): Set<string> {
  const names = new Set(HOP_BY_HOP);
  for (const [name, value] of headers) {
    if (name.toLowerCase() !== 'connection') continue;
    for (const token of value.split(',')) if (token.trim() !== '') names.add(token.trim().toLowerCase());
  }
  return names;
}

export interface ForwardContext {
  /** The client's address as this listener saw it. */
  readonly clientAddress: string;
  readonly proto: 'http' | 'https';
  /** `keep` or the host:port to send instead. */
  readonly host: 'keep' | string;
}

/** The headers to send upstream for a client request (`headers` with lower-case names, as uWS gives them). */
export function upstreamRequestHeaders(headers: HeaderList, context: ForwardContext): OutgoingHttpHeaders {
  const skip = hopByHop(headers);
  const out: Record<string, string | string[]> = {};
  let clientHost = '';
  let forwardedFor = '';
  for (const [name, value] of headers) {
    if (name === 'host') clientHost = value;
    if (name === 'x-forwarded-for') {
      forwardedFor = forwardedFor === '' ? value : `${forwardedFor}, ${value}`;
      continue;
    }
    // Expect is answered on the client's hop (uWS sends its 100 Continue); the body follows anyway.
    if (skip.has(name) || name === 'host' || name === 'expect' || name === 'x-forwarded-proto' || name === 'x-forwarded-host') continue;
    const previous = out[name];
    out[name] = previous === undefined ? value : Array.isArray(previous) ? [...previous, value] : [previous, value];
  }
  out['host'] = context.host === 'keep' ? clientHost : context.host;
  out['x-forwarded-for'] = forwardedFor === '' ? context.clientAddress : `${forwardedFor}, ${context.clientAddress}`;
  out['x-forwarded-proto'] = context.proto;
  if (clientHost !== '') out['x-forwarded-host'] = clientHost;
  return out;
}

/**
 * The upstream response's headers to pass to the client, from node:http's rawHeaders (name,
 * value, name, value…, spelling kept). Content-Length and Date are left to the listener: uWS
 * frames the body itself and always writes its own Date, and a second one would be invalid.
 */
export function clientResponseHeaders(rawHeaders: readonly string[]): Array<[string, string]> {
  const pairs: Array<[string, string]> = [];
  for (let i = 0; i + 1 < rawHeaders.length; i += 2) pairs.push([rawHeaders[i] as string, rawHeaders[i + 1] as string]);
  const skip = hopByHop(pairs);
  skip.add('content-length');
  skip.add('date');
  return pairs.filter(([name]) => !skip.has(name.toLowerCase()));
}
