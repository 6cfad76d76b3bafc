/*
 * A client's HTTP request as the front has read and checked it (src/front/request-reader.ts):
 * copied out of uWS's HttpRequest, which is only valid during its handler, with the path
 * normalised and every header known to be well formed. Whatever serves the request — a bridge,
 * a route, a tunnel — sees only this.
 */

import type { HttpHeader, PeerAuth } from './api.js';

/**
 * Header names lower-case, in arrival order; values as uWS gives them (trimmed). The same array
 * is a backend's PeerQuery.headers: read once, never copied.
 */
export type HeaderList = readonly HttpHeader[];

export interface ClientRequest {
  /** The connection id used in every log line about this request. */
  readonly id: number;
  /** Upper-case, e.g. `GET`. */
  readonly method: string;
  /** The path as received, for the log. */
  readonly rawPath: string;
  /** Normalised: starts with one `/`, no `.` or `..` segments, no empty segments, no backslash. */
  readonly path: string;
  /** `''`, or the query with its `?` (a bare `?` is kept). */
  readonly search: string;
  readonly headers: HeaderList;
  /** The real client: the TCP peer, or whom trusted proxies named (front/client-address.ts). */
  readonly clientAddress: string;
  /** The TCP peer: a proxy in front, or the client itself. */
  readonly remoteAddress: string;
  /** Who sent this HTTP request: the address a believed PROXY header carried, else the TCP peer. */
  readonly hopAddress: string;
  /** A request body follows (Content-Length above 0, or chunked). */
  readonly hasBody: boolean;
  /**
   * Who the client is, once an `[auth]` section admitted it (src/auth/); absent where no auth
   * applies. The credential it showed is no longer in `headers` or `search`.
   */
  readonly auth?: PeerAuth;
  /**
   * Another worker of this cluster received it and relayed it here, to the worker that holds
   * what it names (cluster/siblings.ts): it was admitted there, and is not relayed again.
   */
  readonly fromSibling?: boolean;
  /** Hears the status of the answer (an HTTP route's metrics); absent where no one counts. */
  readonly answerObserver?: AnswerObserver;
}

/** Told, once, the status line a request was answered with. */
export interface AnswerObserver {
  answered(status: number): void;
}

/** A log line's address fields: `client`, and `via` (the TCP peer) when a proxy stood between. */
export function addressFields(request: { readonly clientAddress: string; readonly remoteAddress: string }): { client: string; via: string | undefined } {
  return { client: request.clientAddress, via: request.remoteAddress === request.clientAddress ? undefined : request.remoteAddress };
}

/** The first value of header `name` (lower-case), or undefined. */
export function headerValue(request: { readonly headers: HeaderList }, name: string): string | undefined {
  for (const header of request.headers) if (header.name === name) return header.value;
  return undefined;
}

/** Splits Sec-WebSocket-Protocol into trimmed, distinct names, in the client's order. */
export function offeredProtocols(request: { readonly headers: HeaderList }): string[] {
  const names: string[] = [];
  for (const header of request.headers) {
    if (header.name !== 'sec-websocket-protocol') continue;
    for (const part of header.value.split(',')) {
      const name = part.trim();
      if (name !== '' && !names.includes(name)) names.push(name);
    }
  }
  return names;
}
