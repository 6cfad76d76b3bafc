/*
 * One WebSocket upgrade between its request and its answer, however long the endpoint takes to
 * decide (a backend query and a peer connect, a remote WebSocket's handshake). A client that
 * leaves meanwhile cancels it, so the endpoint can drop what it prepared. How many may wait at
 * once is bounded: past the bound a new upgrade gets 503 at once rather than a slot.
 */
import type { HttpResponse, us_socket_context_t } from 'uWebSockets.js';
import type { SocketData, UpgradeAnswer } from '../core/endpoint.js';
import { Refusal } from '../core/refusal.js';
import { addressFields, type ClientRequest } from '../core/request.js';
import { ClientResponse } from '../http/client-response.js';
import { runGuarded, type Guarded } from '../lib/guard.js';
import { log } from '../lib/log.js';

export class PendingUpgrades {
  private readonly pending = new Set<PendingUpgrade<SocketData>>();

  constructor(readonly limit: number) {}

  get size(): number {
    return this.pending.size;
  }

  add(upgrade: PendingUpgrade<SocketData>): void {
    this.pending.add(upgrade);
  }

  delete(upgrade: PendingUpgrade<SocketData>): void {
    this.pending.delete(upgrade);
  }

  /** Answers every upgrade still waiting (shutdown). */
  refuseAll(refusal: Refusal): void {
    for (const upgrade of [...this.pending]) runGuarded(upgrade, 'shutdown', () => upgrade.refuse(refusal));
  }
}

export class PendingUpgrade<D extends SocketData> implements UpgradeAnswer<D>, Guarded {
  settled = false;
  private cancelHandler: (() => void) | null = null;
  private readonly unlink: () => void;

  constructor(
    private readonly res: HttpResponse,
    private readonly request: ClientRequest,
    private readonly key: string,
    private readonly extensions: string,
    private readonly context: us_socket_context_t,
    private readonly registry: PendingUpgrades,
  ) {
    // uWS keeps this handler as long as the connection lives, upgraded or not: let it hold only
    // a small link that is cut once the upgrade is settled, not the request and its headers.
    const link: { pending: PendingUpgrade<D> | null } = { pending: this };
    this.unlink = () => {
      link.pending = null;
    };
    res.onAborted(() => link.pending?.clientLeft());
    registry.add(this as PendingUpgrade<SocketData>);
  }

  get logFields(): { id: number } {
    return { id: this.request.id };
  }

  /** The endpoint's code threw before answering: a 500, and its preparations are dropped. */
  abortAfterFault(reason: string): void {
    this.cancelHandler?.();
    this.refuse(new Refusal(500, 'Internal error', reason));
  }

  onCancel(handler: () => void): void {
    this.cancelHandler = handler;
  }

  accept(data: D, protocol: string): boolean {
    if (this.settled) return false;
    this.settle();
    const { res, key, extensions, context } = this;
    // Corked: the 101 and anything the open handler sends leave in one write.
    res.cork(() => res.upgrade<D>(data, key, protocol, extensions, context));
    return true;
  }

  refuse(refusal: Refusal): void {
    if (this.settled) return;
    this.settle();
    const r = this.request;
    log.info('refused', { id: r.id, ...addressFields(r), endpoint: r.path + r.search, status: refusal.statusLine, why: refusal.detail });
    new ClientResponse(this.res, r.id).refuse(refusal, true);
  }

  private clientLeft(): void {
    if (this.settled) return;
    this.settle();
    log.info('client left during handshake', { id: this.request.id, ...addressFields(this.request) });
    this.cancelHandler?.();
  }

  private settle(): void {
    this.settled = true;
    this.unlink();
    this.registry.delete(this as PendingUpgrade<SocketData>);
  }
}
