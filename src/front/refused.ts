/*
 * The `refused` log line every refusal at the front writes, and the answer that goes with it:
 * who asked (id, client, via), what (method, endpoint), the status, why (the detail, for the log
 * only) and the reason's name, which is the label websocksy_refusals_total counts it under.
 */
import type { HttpResponse } from 'uWebSockets.js';
import type { Refusal } from '../core/refusal.js';
import { addressFields, type ClientRequest } from '../core/request.js';
import { ClientResponse } from '../http/client-response.js';
import { log } from '../lib/log.js';

interface Asker {
  readonly id: number;
  readonly clientAddress: string;
  readonly remoteAddress: string;
}

/**
 * `endpoint` as the log may show it: a path and query the auth has taken its credentials out of.
 * `debug` for refusals that are routine (plain HTTP at a WebSocket endpoint: scanners, probes).
 */
export function logRefused(asker: Asker, refusal: Refusal, endpoint: string, method?: string, level: 'info' | 'debug' = 'info'): void {
  log[level]('refused', { id: asker.id, ...addressFields(asker), method, endpoint, status: refusal.statusLine, why: refusal.detail, reason: refusal.reason });
}

/** Logs and answers a plain request's refusal; `closeConnection` for a client with nothing more to ask. */
export function refusePlainRequest(res: HttpResponse, request: ClientRequest, refusal: Refusal, closeConnection = false): void {
  logRefused(request, refusal, request.path + request.search, request.method);
  ClientResponse.answering(res, request).refuse(refusal, closeConnection);
}
