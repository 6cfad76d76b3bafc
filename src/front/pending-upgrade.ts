/*
 * One WebSocket upgrade between its request and its answer, however long the endpoint takes to
 * decide (a backend query and a peer connect, a remote WebSocket's handshake). A client that
 * leaves meanwhile cancels it, so the endpoint can drop what it prepared. How many may wait at
 * once is bounded: past the bound a new upgrade gets 503 at once rather than a slot. How long
 * one may wait is bounded too (handshake-timeout): then it gets 504 and is cancelled.
 * The upgrade holds its admission ticket (core/admission.ts): a refusal or a client that left
 * releases it here; an accepted upgrade hands it to the socket, whose close handler releases it.
 */
import type { HttpResponse, us_socket_context_t } from 'uWebSockets.js';
import type { AdmissionTicket } from '../core/admission.js';
import type { SocketData, UpgradeAnswer, WsEndpoint } from '../core/endpoint.js';
import { Refusal } from '../core/refusal.js';
import { addressFields, type ClientRequest } from '../core/request.js';
import { ClientResponse } from '../http/client-response.js';
import { runGuarded, type Guarded } from '../lib/guard.js';
import { log } from '../lib/log.js';
import { engine } from './engine.js';
import { upgradeInto } from './ws-behaviour.js';
import { logRefused } from './refused.js';
import { LiveSet } from '../lib/live-set.js';
import { extended } from '../lib/extended.js';

export class PendingUpgrades {
  private readonly pending = new LiveSet<PendingUpgrade<SocketData>>();

  constructor(
    /** Both bounds follow a reload (front/app.ts): waiting upgrades keep the deadline they got. */
    public limit: number,
    /** How long an upgrade may wait for its answer; 0 = no bound of the front's own. */
    public timeoutMs: number,
    /** Called once per upgrade that ran out of time (for the status counters). */
    readonly onTimeout: () => void = () => {},
    /** Called with each upgrade's refusal (for the metrics). */
    readonly onRefused: (refusal: Refusal) => void = () => {},
  ) {}

  get size(): number {
    return this.pending.size;
  }

  add(upgrade: PendingUpgrade<SocketData>): void {
    this.pending.add(upgrade);
  }

  delete(upgrade: PendingUpgrade<SocketData>): void {
    this.pending.delete(upgrade);
  }

  /** Refuses an upgrade that never waited (a cap, a bad handshake): counted, logged and answered as a waiting one's refusal is. */
  refuseAtOnce(res: HttpResponse, request: ClientRequest, refusal: Refusal): void {
    this.onRefused(refusal);
    logRefused(request, refusal, request.path + request.search);
    new ClientResponse(res, request.id).refuse(refusal, true);
  }

  /** Answers every upgrade still waiting (shutdown). */
  refuseAll(refusal: Refusal): void {
    for (const upgrade of this.pending) runGuarded(upgrade, 'shutdown', () => upgrade.refuse(refusal));
  }
}

export class PendingUpgrade<D extends SocketData> implements UpgradeAnswer<D>, Guarded {
  settled = false;
  private cancelHandler: (() => void) | null = null;
  /** What uWS's abort handler holds: a small link, cut once the upgrade is settled. */
  private readonly link: { pending: PendingUpgrade<D> | null } = { pending: this };
  private deadline: NodeJS.Timeout | null = null;
  /** True while uWS's upgrade handler runs, where uWS has corked the socket itself. */
  private inUwsHandler = true;

  constructor(
    private readonly res: HttpResponse,
    private readonly request: ClientRequest,
    private readonly key: string,
    private readonly extensions: string,
    private readonly context: us_socket_context_t,
    private readonly registry: PendingUpgrades,
    private readonly ticket: AdmissionTicket | null,
    /** The endpoint whose answer this is: the socket keeps it for all its callbacks (ws-behaviour.ts). */
    private readonly endpoint: WsEndpoint<SocketData>,
  ) {
    // uWS keeps this handler as long as the connection lives, upgraded or not: let it hold only
    // a small link that is cut once the upgrade is settled, not the request and its headers.
    const link = this.link;
    res.onAborted(() => link.pending?.clientLeft());
  }

  get logFields(): { id: number } {
    return { id: this.request.id };
  }

  /** The endpoint's code threw before answering: a 500, and its preparations are dropped. */
  abortAfterFault(reason: string): void {
    this.cancelHandler?.();
    this.refuse(new Refusal('internal', 500, 'Internal error', reason));
  }

  /**
   * The upgrade handler returned: an answer from now on comes from outside uWS's callbacks. Only
   * now does an upgrade still unanswered wait, count against the bound and get its deadline:
   * most are answered within the handler (a peer on this host, a refusal), and need neither.
   */
  leftUwsHandler(): void {
    this.inUwsHandler = false;
    if (this.settled) return;
    const { registry } = this;
    registry.add(this as PendingUpgrade<SocketData>);
    if (registry.timeoutMs > 0) this.deadline = setTimeout(() => runGuarded(this, 'handshake timeout', () => this.timedOut()), registry.timeoutMs);
  }

  onCancel(handler: () => void): void {
    this.cancelHandler = handler;
  }

  accept(data: D, protocol: string): boolean {
    if (this.settled) return false;
    this.settle();
    const { res, key, extensions, context, ticket, endpoint } = this;
    // uWS copies the data's properties onto the socket: the ticket goes with them.
    const withTicket: D = ticket === null ? data : extended(data, { ticket });
    const upgrade = (): void => upgradeInto(endpoint, () => res.upgrade<D>(withTicket, key, protocol, extensions, context));
    // Corked, the 101 and anything the open handler sends leave in one write; inside the upgrade
    // handler uWS has corked already. A late answer is corked here unless the build would then
    // close the connection it just upgraded (Engine.corksLateUpgrades).
    if (this.inUwsHandler || engine().corksLateUpgrades) res.cork(upgrade);
    else upgrade();
    return true;
  }

  refuse(refusal: Refusal): void {
    if (this.settled) return;
    this.settle();
    this.ticket?.release();
    this.registry.refuseAtOnce(this.res, this.request, refusal);
  }

  private clientLeft(): void {
    if (this.settled) return;
    this.settle();
    this.ticket?.release();
    log.info('client left during handshake', { id: this.request.id, ...addressFields(this.request) });
    this.cancelHandler?.();
  }

  private timedOut(): void {
    if (this.settled) return;
    this.registry.onTimeout();
    this.cancelHandler?.();
    this.refuse(new Refusal('handshake-timeout', 504, 'The WebSocket handshake took too long', `no answer within handshake-timeout (${this.registry.timeoutMs / 1000} s)`));
  }

  private settle(): void {
    if (this.deadline !== null) clearTimeout(this.deadline);
    this.deadline = null;
    this.settled = true;
    this.link.pending = null;
    this.registry.delete(this as PendingUpgrade<SocketData>);
  }
}
