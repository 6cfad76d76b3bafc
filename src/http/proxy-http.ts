/*
 * One request through an HTTP route: the client's method, path (under the route's base),
 * query, headers and body go upstream; the upstream's status, headers and body come back
 * (response-relay.ts). Both bodies stream with backpressure: uWS pauses reading the client
 * while the upstream request is full, and the upstream response pauses while the client's
 * socket is full. Failures before the response head: 502 unreachable, 504 too slow, counted
 * from the moment the whole request was sent (a slow upload is the client's time, not the
 * upstream's), 403 when the upstream's name resolves outside the route's allow; the log says
 * why. Every node:http callback runs behind the guard.
 */
import { request as httpRequest, type Agent, type ClientRequestArgs, type ClientRequest as UpstreamRequest, type IncomingMessage } from 'node:http';
import type { LookupFunction } from 'node:net';
import type { HttpResponse } from 'uWebSockets.js';
import { addressFields, headerValue, type ClientRequest } from '../core/request.js';
import { DestinationDenied } from '../lib/destination-allow.js';
import { errorMessage } from '../lib/errors.js';
import { guarded } from '../lib/guard.js';
import { isVerbose, log, type LogFields } from '../lib/log.js';
import { portOf, socketHost } from '../lib/url.js';
import { ClientResponse } from './client-response.js';
import { upstreamRequestHeaders } from './forward-headers.js';
import { relayResponse } from './response-relay.js';
import type { Route } from './route-table.js';
import { upstreamPath } from './upstream-path.js';

/** A direct route's pool, and the lookup that holds its upstream to the route's allow (absent: none). */
export interface DirectConnection {
  readonly agent: Agent;
  readonly lookup?: LookupFunction;
}

/** How a request reaches the upstream: a pooled agent, or one connection made for it (now, or later through `oncreate`). */
export type UpstreamConnection = DirectConnection | { readonly createConnection: NonNullable<ClientRequestArgs['createConnection']> };

export interface ProxyTarget {
  readonly route: Route;
  readonly base: URL;
  readonly connection: UpstreamConnection;
  /** Names the upstream in the log (a URL, or a URL and the tunnel). */
  readonly label: string;
  /** The client is a trusted proxy (see forward-headers.ts). */
  readonly trustedClient: boolean;
  /** How the client reached this listener. */
  readonly clientProto: 'http' | 'https';
}

class UpstreamTimeoutError extends Error {
  constructor(readonly ms: number) {
    super(`no response head within ${ms} ms of the request being sent`);
    this.name = 'UpstreamTimeoutError';
  }
}

/** Forwards the request; call from the uWS handler itself (the body's onData must be set there). */
export function proxyHttp(res: HttpResponse, client: ClientRequest, target: ProxyTarget): void {
  const { route, base } = target;
  const answer = ClientResponse.answering(res, client);
  const started = Date.now();
  // Built only when a line is logged: most requests log nothing.
  const fields = (): LogFields => ({ id: client.id, route: route.prefix, method: client.method, path: client.path, upstream: target.label, ...addressFields(client) });
  const headers = upstreamRequestHeaders(client.headers, {
    hopAddress: client.hopAddress,
    proto: target.clientProto,
    host: route.host === 'keep' ? 'keep' : base.host,
    trustedClient: target.trustedClient,
  });
  // A body without a length (the client's was chunked) goes up chunked. node:http would
  // otherwise write it unframed for GET, HEAD, DELETE, OPTIONS, TRACE and CONNECT, and a
  // request inside it would reach the upstream as a request of its own.
  if (client.hasBody && headerValue(client, 'content-length') === undefined) headers['transfer-encoding'] = 'chunked';
  const upstream: UpstreamRequest = httpRequest({
    host: socketHost(base),
    port: portOf(base),
    method: client.method,
    path: upstreamPath(route, base.pathname, client),
    headers,
    setHost: false,
    ...target.connection,
  });
  let timer: NodeJS.Timeout | null = null;
  const stopTimer = (): void => {
    if (timer !== null) clearTimeout(timer);
    timer = null;
  };
  upstream.on('finish', guarded(answer, 'upstream request sent', () => {
    timer = setTimeout(() => upstream.destroy(new UpstreamTimeoutError(route.timeoutMs)), route.timeoutMs);
  }));
  answer.whenAborted(() => {
    stopTimer();
    upstream.destroy();
    log.info('http aborted', { ...fields(), why: 'client went away before the response', ms: Date.now() - started });
  });

  upstream.on('error', guarded(answer, 'upstream error', (error: Error) => {
    stopTimer();
    if (!answer.usable) return;
    if (error instanceof DestinationDenied) {
      log.warn('http upstream refused', { ...fields(), status: 403, why: error.message });
      answer.fail('403 Forbidden', 'Forbidden');
      return;
    }
    const timedOut = error instanceof UpstreamTimeoutError;
    log.warn('http upstream failed', { ...fields(), status: timedOut ? 504 : 502, why: errorMessage(error) });
    if (timedOut) answer.fail('504 Gateway Timeout', 'Gateway timeout');
    else answer.fail('502 Bad Gateway', 'Bad gateway');
  }));

  upstream.on('response', guarded(answer, 'upstream response', (response: IncomingMessage) => {
    stopTimer();
    if (!answer.usable) {
      response.destroy();
      return;
    }
    relayResponse(answer, client.method, response, (error) => {
      if (error === null) {
        if (isVerbose()) log.debug('http', { ...fields(), status: response.statusCode ?? 0, ms: Date.now() - started });
      } else log.warn('http response cut', { ...fields(), status: response.statusCode ?? 0, why: errorMessage(error) });
    });
  }));

  if (!client.hasBody) {
    upstream.end();
    return;
  }
  answer.onBody((chunk, isLast) => {
    // uWS reuses the chunk's memory after this call: copy it.
    const copy = Buffer.copyBytesFrom(new Uint8Array(chunk));
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
      upstream.once('drain', guarded(answer, 'upstream drain', () => answer.resumeBody()));
    }
  });
}
