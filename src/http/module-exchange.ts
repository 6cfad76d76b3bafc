/*
 * One plain HTTP request through a route module: the request (head, and the body streamed in),
 * the response, the module's handler run behind the guard, and the clock.
 *
 * The clock: an exchange may stand still for the route's `timeout` at most — no answer begun, no
 * byte of the body arriving, no byte of the answer leaving. Then websocksy answers 504 in the
 * module's place, or cuts the connection once the answer has begun, so a module that never
 * answers never hangs a client. It looks for movement only when it fires, so a busy exchange
 * costs nothing per chunk.
 *
 * A body whose Content-Length is over the route's max-body is refused (413) before the module
 * sees the request; a chunked one is refused when it gets there.
 */
import type { HttpResponse } from 'uWebSockets.js';
import type { RouteModule, RouteRequest } from '../core/route-api.js';
import { addressFields, headerValue, type ClientRequest } from '../core/request.js';
import { runGuardedAsync, type Guarded } from '../lib/guard.js';
import { log, type LogFields } from '../lib/log.js';
import { ClientResponse } from './client-response.js';
import { RequestBody } from './module-body.js';
import { BodyTooLargeError, ClientGoneError, endedUnderModule } from './module-errors.js';
import { requestHead } from './module-request.js';
import { ModuleResponse } from './module-response.js';
import type { Route, RouteTarget } from './route-table.js';
import { extended } from '../lib/extended.js';

export type ModuleTarget = Extract<RouteTarget, { kind: 'module' }>;
export type RequestHandler = NonNullable<RouteModule['request']>;

class ModuleExchange implements Guarded {
  readonly body: RequestBody;
  readonly response: ModuleResponse;
  private readonly timer: NodeJS.Timeout;
  private readonly started = Date.now();
  private settled = false;
  /** Body bytes received and answer bytes written when the clock last looked. */
  private seenReceived = 0;
  private seenSent = 0;

  constructor(
    private readonly answer: ClientResponse,
    private readonly route: Route,
    target: ModuleTarget,
    hasBody: boolean,
    head: boolean,
    readonly logFields: LogFields,
  ) {
    this.timer = setTimeout(() => this.tick(), route.timeoutMs);
    this.body = new RequestBody(answer, hasBody, target.maxBody, (error) => this.bodyTooLarge(error));
    this.response = new ModuleResponse(answer, head, this, {
      ending: () => this.body.discard(new ClientGoneError('the response has ended')),
      finished: (error) => this.finished(error),
    });
    // Once the answer streams, ClientResponse.sendBody takes this over and reports through finished().
    answer.whenAborted(() => {
      if (this.settled) return;
      log.info('route module aborted', { ...this.logFields, why: 'the client went away', ms: Date.now() - this.started });
      this.settle(new ClientGoneError('the client went away'));
    });
  }

  abortAfterFault(reason: string): void {
    if (this.settled) return;
    this.settle(new ClientGoneError(reason));
    this.answer.abortAfterFault();
  }

  /** Hands the request to the module; its throw or rejection costs this exchange alone. */
  run(request: RouteRequest, handler: RequestHandler): void {
    runGuardedAsync(this, 'route module request', async () => {
      try {
        await handler(request, this.response);
      } catch (error) {
        // websocksy's own errors, let through by the module, as they should be: not a fault.
        if (!endedUnderModule(error)) throw error;
      }
    });
  }

  private tick(): void {
    if (this.settled) return;
    const sent = this.answer.usable && this.answer.headersSent ? this.answer.res.getWriteOffset() : 0;
    if (sent !== this.seenSent || this.body.received !== this.seenReceived) {
      this.seenSent = sent;
      this.seenReceived = this.body.received;
      this.timer.refresh();
      return;
    }
    const why = new ClientGoneError(`the exchange stood still for ${this.route.timeoutMs} ms`);
    if (this.answer.headersSent) {
      log.warn('route module timed out', { ...this.logFields, status: 'cut', why: why.message });
      this.settle(why);
      this.answer.cut();
    } else {
      log.warn('route module timed out', { ...this.logFields, status: 504, why: why.message });
      this.answerInstead('504 Gateway Timeout', 'Gateway timeout', why);
    }
  }

  private bodyTooLarge(error: BodyTooLargeError): void {
    if (this.settled) return;
    log.info('route module body too large', { ...this.logFields, status: this.answer.headersSent ? 'cut' : 413, limit: error.limit });
    if (!this.answer.headersSent) {
      this.answerInstead('413 Content Too Large', 'Content too large', error);
      return;
    }
    this.settle(error);
    this.answer.cut();
  }

  /** Answers in the module's place, which has not begun its answer. */
  private answerInstead(status: string, text: string, why: Error): void {
    this.settle(why);
    // Not waiting for a body still arriving (it could take as long as the client likes): the
    // answer goes now, and the connection closes once the client has it (ClientResponse.fail).
    this.answer.bodyPending = false;
    this.answer.fail(status, text, {}, !this.body.done);
  }

  private finished(error: Error | null): void {
    if (this.settled) return;
    const fields = { ...this.logFields, status: this.response.status, ms: Date.now() - this.started };
    if (error === null) log.debug('route module', fields);
    else log.warn('route module response cut', { ...fields, why: error.message });
    this.settle(error === null ? null : new ClientGoneError(error.message));
  }

  /** The exchange is over: the clock stops, and what the module still waits for fails with `why`. */
  private settle(why: Error | null): void {
    this.settled = true;
    clearTimeout(this.timer);
    if (why === null) return;
    this.response.abort(why);
    this.body.discard(why);
  }
}

/** Serves a plain request on a module route; call from the uWS handler itself (the body's callback is set there). */
export function serveModuleRequest(res: HttpResponse, request: ClientRequest, route: Route, target: ModuleTarget, handler: RequestHandler): void {
  const answer = ClientResponse.answering(res, request);
  const fields = { id: request.id, route: route.prefix, method: request.method, path: request.path, ...addressFields(request) };
  const declared = Number(headerValue(request, 'content-length') ?? 0);
  if (declared > target.maxBody) {
    log.info('route module body too large', { ...fields, status: 413, bytes: declared, limit: target.maxBody });
    // Answered at once; the rest of the body is read and dropped until the client, told to
    // close, does (ClientResponse.fail), so even one that sends all before it reads sees the answer.
    answer.bodyPending = false;
    answer.fail('413 Content Too Large', 'Content too large', {}, true);
    return;
  }
  const exchange = new ModuleExchange(answer, route, target, request.hasBody, request.method === 'HEAD', fields);
  exchange.run(extended(requestHead(route, request), { body: exchange.body }), handler);
}
