/*
 * One request through an HTTP route: the client's method, path (under the route's base),
 * query, headers and body go upstream; the upstream's status, headers and body come back.
 * Both bodies stream with backpressure: uWS pauses reading the client while the upstream
 * request is full, and the upstream response pauses while the client's socket is full.
 * Failures before the response head: 502 unreachable, 504 too slow; the log says why.
 */
import { request, type Agent, type IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import type { HttpRequest, HttpResponse } from 'uWebSockets.js';
import { errorMessage } from '../core/errors.js';
import { clientAddressOf } from '../core/listener.js';
import { log } from '../core/log.js';
import { ClientResponse } from './client-response.js';
import { clientResponseHeaders, upstreamRequestHeaders, type HeaderList } from './headers.js';
import { restOf, type Route } from './route-table.js';

/** How a request reaches the upstream: a pooled agent, or one connection made for it. */
export type UpstreamConnection = { readonly agent: Agent } | { readonly createConnection: () => Duplex };

export class UpstreamTimeoutError extends Error {
  constructor(readonly ms: number) {
    super(`no response head within ${ms} ms`);
    this.name = 'UpstreamTimeoutError';
  }
}

/** What a request is, copied out of uWS's HttpRequest, which is only valid during the handler. */
export interface ClientRequest {
  readonly method: string;
  readonly path: string;
  /** '' or `?...` */
  readonly search: string;
  readonly headers: HeaderList;
  readonly clientAddress: string;
  readonly hasBody: boolean;
}

export function readClientRequest(res: HttpResponse, req: HttpRequest): ClientRequest {
  const headers: Array<[string, string]> = [];
  req.forEach((name, value) => headers.push([name, value]));
  const query: string | undefined = req.getQuery();
  const length = req.getHeader('content-length');
  return {
    method: req.getMethod().toUpperCase(),
    path: req.getUrl(),
    search: query === undefined || query === '' ? '' : `?${query}`,
    headers,
    clientAddress: clientAddressOf(res),
    hasBody: (length !== '' && length !== '0') || req.getHeader('transfer-encoding') !== '',
  };
}

/** The upstream path for a request: the route's base with the part after the prefix appended. */
export function upstreamPath(route: Route, base: URL, request: ClientRequest): string {
  const joined = base.pathname.replace(/\/$/, '') + restOf(route, request.path);
  return (joined === '' ? '/' : joined) + request.search;
}

const NO_BODY_STATUS = new Set([204, 304]);

/**
 * Forwards the request; call from the uWS handler itself (the body's onData must be set there).
 * `label` names the upstream in the log (a URL, or a URL and the tunnel).
 */
export function proxyHttp(res: HttpResponse, client: ClientRequest, route: Route, base: URL, connection: UpstreamConnection, label: string): void {
  const answer = new ClientResponse(res, client.hasBody);
  const started = Date.now();
  const fields = { route: route.prefix, method: client.method, path: client.path, upstream: label, client: client.clientAddress };
  const headers = upstreamRequestHeaders(client.headers, { clientAddress: client.clientAddress, proto: 'http', host: route.host === 'keep' ? 'keep' : base.host });
  const upstream = request({
    host: base.hostname.replace(/^\[(.*)\]$/, '$1'),
    port: base.port === '' ? 80 : Number(base.port),
    method: client.method,
    path: upstreamPath(route, base, client),
    headers,
    setHost: false,
    ...connection,
  });
  const timer = setTimeout(() => upstream.destroy(new UpstreamTimeoutError(route.timeoutMs)), route.timeoutMs);
  answer.whenAborted(() => {
    clearTimeout(timer);
    upstream.destroy();
    log.info('http aborted', { ...fields, why: 'client went away before the response', ms: Date.now() - started });
  });

  upstream.on('error', (error: Error) => {
    clearTimeout(timer);
    if (!answer.usable) return;
    const timedOut = error instanceof UpstreamTimeoutError;
    log.warn('http upstream failed', { ...fields, status: timedOut ? 504 : 502, why: errorMessage(error) });
    if (timedOut) answer.fail('504 Gateway Timeout', 'Gateway timeout');
    else answer.fail('502 Bad Gateway', 'Bad gateway');
  });

  upstream.on('response', (response: IncomingMessage) => {
    clearTimeout(timer);
    if (!answer.usable) {
      response.destroy();
      return;
    }
    relayResponse(answer, client, response, (error) => {
      if (error === null) log.debug('http', { ...fields, status: response.statusCode ?? 0, ms: Date.now() - started });
      else log.warn('http response cut', { ...fields, status: response.statusCode ?? 0, why: errorMessage(error) });
    });
  });

  if (!client.hasBody) {
    upstream.end();
    return;
  }
  res.onData((chunk, isLast) => {
    // uWS reuses the chunk's memory after this call: copy it.
    const copy = Buffer.from(new Uint8Array(chunk));
    if (isLast) {
      // The body is all read: reading on is the next request's business, and a socket left
      // paused past its response breaks the connection's keep-alive.
      answer.bodyPending = false;
      answer.resumeBody();
      upstream.end(copy);
      return;
    }
    if (!upstream.write(copy)) {
      answer.pauseBody();
      upstream.once('drain', () => answer.resumeBody());
    }
  });
}

function relayResponse(answer: ClientResponse, client: ClientRequest, response: IncomingMessage, done: (error: Error | null) => void): void {
  const status = response.statusCode ?? 502;
  const head = `${status} ${response.statusMessage ?? ''}`.trim();
  const headers = clientResponseHeaders(response.rawHeaders);
  const lengthHeader = response.headers['content-length'];
  const length = lengthHeader === undefined || !/^\d+$/.test(lengthHeader) ? null : Number(lengthHeader);
  answer.res.cork(() => {
    answer.writeHead(head, headers);
    if (client.method === 'HEAD' || NO_BODY_STATUS.has(status)) {
      answer.endWithoutBody(client.method === 'HEAD' ? length : null);
      response.resume();
      done(null);
      return;
    }
    answer.sendBody(response, length, done);
  });
}
