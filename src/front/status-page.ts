/*
 * The status endpoints a front serves: the status JSON at the status path (at every path on a
 * listener of its own), and, to a client that asks for HTML first (a browser's navigation), the
 * status page's shell instead; under the configured path, the page's pieces:
 *   GET  PATH/assets/BUILD/NAME          the page's scripts and styles (status-assets.ts)
 *   GET  PATH/history                    the last minutes, sampled (metrics/status-history.ts)
 *   POST PATH/connections/ID/close       closes one bridged connection (1008 "closed by operator")
 *   POST PATH/drain                      drains and exits, as SIGTERM does
 * The JSON and the history are read under the status's access; the actions under actionRefusal
 * (a token, sent as a bearer header, and nothing cross-site); the shell and assets hold no data.
 * Every answer of the page's comes with a Content-Security-Policy that allows scripts, styles
 * and fetches from this origin only, and no inline script.
 */
import type { HttpResponse } from 'uWebSockets.js';
import { Refusal } from '../core/refusal.js';
import { addressFields, headerValue, type ClientRequest } from '../core/request.js';
import { log } from '../lib/log.js';
import { SHOWN_SESSION_LENGTH } from '../tunnel/status.js';
import { sendDocument, serveMetrics, type MetricsPage } from './control-page.js';
import { actionRefusal, addressRefusal, statusRefusal, type StatusAccess } from './status-access.js';
import type { StatusPageFiles } from './status-assets.js';
import { refusePlainRequest } from './refused.js';

/** What the status endpoints read and do; the running server (src/server/) provides it. */
export interface StatusControl {
  /** The status JSON. */
  render(): object;
  /** The sampled history the page charts. */
  history(): object;
  /** Closes bridged connection `id` for the operator; false when no such connection is open. */
  closeConnection(id: number): boolean;
  /** Ends the tunnel session the status shows as `shown` (its id's first 8 characters). */
  closeTunnel(shown: string): 'ended' | 'none' | 'ambiguous';
  /** Ends resumable session `id`; false when there is none. */
  closeSession(id: string): boolean;
  /** Starts the drain SIGTERM starts and the exit after it; false when the server is stopping already. */
  drain(): boolean;
}

export interface StatusEndpoints {
  /** Where the JSON (or the page's shell) is served; null: at every path (a listener of its own). */
  readonly path: string | null;
  /** `[status] path`: the page's pieces are under it on either listener. */
  readonly base: string;
  readonly access: StatusAccess;
  readonly metrics: MetricsPage | null;
  readonly control: StatusControl;
  /** The built page; null when it could not be read (the JSON is served all the same). */
  readonly page: StatusPageFiles | null;
}

/** The close code and reason an operator's close sends: a policy decision, which clients should not retry at once as they would a 1001. */
export const OPERATOR_CLOSE = { code: 1008, reason: 'closed by operator' } as const;

const PAGE_HEADERS: Readonly<Record<string, string>> = {
  'Content-Security-Policy': "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
  'X-Content-Type-Options': 'nosniff',
  'Referrer-Policy': 'no-referrer',
};
const SHELL_HEADERS = { ...PAGE_HEADERS, 'Cache-Control': 'no-store' };
/** An asset's path names its build's digest, so it never changes under it. */
const ASSET_HEADERS = { ...PAGE_HEADERS, 'Cache-Control': 'public, max-age=31536000, immutable' };
const JSON_TYPE = 'application/json';

/** A browser's navigation puts text/html first in Accept; a script or curl asks for JSON or anything. */
function wantsHtml(request: ClientRequest): boolean {
  const first = (headerValue(request, 'accept') ?? '').split(',')[0] ?? '';
  return first.split(';')[0]?.trim().toLowerCase() === 'text/html';
}

function sendJson(res: HttpResponse, request: ClientRequest, value: object, status?: string): void {
  const body = Buffer.from(JSON.stringify(value, null, 2));
  res.cork(() => sendDocument(res, request, JSON_TYPE, body, undefined, status));
}

const READING = ['GET', 'HEAD'];
const ACTING = ['POST'];

/** `request`'s method is one of `allowed`; else it was answered 405. */
function methodAllowed(res: HttpResponse, request: ClientRequest, allowed: readonly string[]): boolean {
  if (allowed.includes(request.method)) return true;
  refusePlainRequest(res, request, new Refusal('method', 405, 'Method not allowed', `method ${request.method} on ${request.path}`, { Allow: allowed.join(', ') }));
  return false;
}

/** What an action did (its status line and JSON), or why it did not. */
type ActionResult = Refusal | { readonly status: string; readonly answer: object };

/** An action the page asked for: nothing cross-site, the token, no body (an action takes none). */
function act(res: HttpResponse, request: ClientRequest, status: StatusEndpoints, action: () => ActionResult): void {
  if (!methodAllowed(res, request, ACTING)) return;
  const refusal = actionRefusal(request, status.access) ?? (request.hasBody ? new Refusal('bad-request', 400, 'A status action is an empty POST', 'status action with a body') : null);
  if (refusal !== null) {
    refusePlainRequest(res, request, refusal, request.hasBody);
    return;
  }
  const done = action();
  if (done instanceof Refusal) refusePlainRequest(res, request, done);
  else sendJson(res, request, done.answer, done.status);
}

function closeConnection(control: StatusControl, request: ClientRequest, id: string): ActionResult {
  const connection = Number(id);
  if (!control.closeConnection(connection)) return new Refusal('not-found', 404, 'No such connection', `operator close of connection ${id}, which is not open`);
  log.info('closed by operator', { id: connection, by: request.id, ...addressFields(request) });
  return { status: '200 OK', answer: { closed: connection, code: OPERATOR_CLOSE.code } };
}

function closeTunnel(control: StatusControl, request: ClientRequest, shown: string): ActionResult {
  const outcome = control.closeTunnel(shown);
  if (outcome === 'none') return new Refusal('not-found', 404, 'No such tunnel session', `operator close of tunnel session ${shown}, which is not open`);
  if (outcome === 'ambiguous') return new Refusal('conflict', 409, 'Several tunnel sessions start with this id', `operator close of tunnel session ${shown}, which names more than one`);
  log.info('tunnel closed by operator', { session: shown, by: request.id, ...addressFields(request) });
  return { status: '200 OK', answer: { closedTunnel: shown } };
}

function closeSession(control: StatusControl, request: ClientRequest, id: string): ActionResult {
  if (!control.closeSession(id)) return new Refusal('not-found', 404, 'No such session', `operator close of session ${id}, which is not open`);
  log.info('session closed by operator', { session: id, by: request.id, ...addressFields(request) });
  return { status: '200 OK', answer: { closedSession: id, code: OPERATOR_CLOSE.code } };
}

/** The close that `KIND/ID/close` asks for, or null for an id no KIND ever has (left to the rest of the dispatch). */
function closeAction(control: StatusControl, request: ClientRequest, kind: string, id: string): (() => ActionResult) | null {
  if (kind === 'connections') return /^[1-9]\d{0,14}$/.test(id) ? () => closeConnection(control, request, id) : null;
  if (kind === 'tunnels') return id.length === SHOWN_SESSION_LENGTH ? () => closeTunnel(control, request, id) : null;
  return () => closeSession(control, request, id);
}

function drain(control: StatusControl, request: ClientRequest): ActionResult {
  log.warn('drain asked for on the status page', { id: request.id, ...addressFields(request) });
  if (!control.drain()) return new Refusal('conflict', 409, 'Already stopping', 'drain asked for while stopping');
  return { status: '202 Accepted', answer: { draining: true } };
}

/** Serves `request` when it is one of the status endpoints' and says so; false leaves it to the rest of the dispatch. */
export function serveStatusRequest(res: HttpResponse, request: ClientRequest, status: StatusEndpoints): boolean {
  const { path, base, access, metrics, control, page } = status;
  if (metrics !== null && request.path === metrics.path && READING.includes(request.method)) {
    const refusal = statusRefusal(request, access);
    if (refusal === null) serveMetrics(res, request, metrics);
    else refusePlainRequest(res, request, refusal);
    return true;
  }
  const under = request.path.startsWith(`${base}/`) ? request.path.slice(base.length + 1) : null;
  const asset = under === null ? null : /^assets\/(\w+)\/([\w.-]+)$/.exec(under);
  if (asset !== null) {
    if (!methodAllowed(res, request, READING)) return true;
    const found = addressRefusal(request, access) ?? page?.asset(asset[1] as string, asset[2] as string) ?? new Refusal('not-found', 404, 'Not found', `no status page asset ${under}`);
    if (found instanceof Refusal) refusePlainRequest(res, request, found);
    else res.cork(() => sendDocument(res, request, found.contentType, found.body, ASSET_HEADERS));
    return true;
  }
  if (under === 'history') {
    if (!methodAllowed(res, request, READING)) return true;
    const refusal = statusRefusal(request, access);
    if (refusal === null) sendJson(res, request, control.history());
    else refusePlainRequest(res, request, refusal);
    return true;
  }
  const close = under === null ? null : /^(connections|tunnels|sessions)\/([\w-]{1,64})\/close$/.exec(under);
  const closing = close === null ? null : closeAction(control, request, close[1] as string, close[2] as string);
  if (closing !== null) {
    act(res, request, status, closing);
    return true;
  }
  if (under === 'drain') {
    act(res, request, status, () => drain(control, request));
    return true;
  }
  if ((path !== null && request.path !== path) || !READING.includes(request.method)) return false;
  if (page !== null && wantsHtml(request)) {
    const refusal = addressRefusal(request, access);
    const shell = page.shell(base, access.tokenDigest !== null);
    if (refusal === null) res.cork(() => sendDocument(res, request, 'text/html; charset=utf-8', shell, SHELL_HEADERS));
    else refusePlainRequest(res, request, refusal);
    return true;
  }
  const refusal = statusRefusal(request, access);
  if (refusal === null) sendJson(res, request, control.render());
  else refusePlainRequest(res, request, refusal);
  return true;
}
