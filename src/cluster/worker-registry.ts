/*
 * The registry of one host's workers (registry.ts): the primary keeps the one map of owners and
 * of the workers' links (server/cluster-primary.ts), grants a claim to the first worker that
 * makes it, and tells every worker the map on each change; a map in one process cannot disagree
 * with itself, so no identity has two owners.
 */
import { LINK_HOST } from './link.js';
import { ClaimError, registryStatus, type NodeId, type Registry, type RegistryStatus } from './registry.js';

/** What a worker asks of the primary about owners. */
export type OwnerRequest = { readonly type: 'claim'; readonly id: number; readonly identity: string } | { readonly type: 'release'; readonly identity: string };

/** How long a claim waits for the primary (it answers at once unless it is gone). */
const CLAIM_WAIT_MS = 5_000;

export class WorkerRegistry implements Registry {
  /** The primary tells every worker each change as it makes it. */
  readonly fresh = true;
  private readonly links = new Map<NodeId, URL>();
  private owners = new Map<string, NodeId>();
  private readonly claims = new Map<number, { readonly resolve: (worker: NodeId) => void; readonly timer: NodeJS.Timeout }>();
  private nextClaim = 1;

  /** `self`: this worker's number; `ask` carries a request to the primary. */
  constructor(
    private readonly self: NodeId,
    private readonly ask: (request: OwnerRequest) => void,
  ) {}

  /** The primary's word: every worker's link port (a restarted worker listens on a new one) and the identities' owners. */
  update(ports: ReadonlyMap<NodeId, number>, owners: ReadonlyMap<string, NodeId>): void {
    this.owners = new Map(owners);
    this.links.clear();
    for (const [worker, port] of ports) this.links.set(worker, new URL(`http://${LINK_HOST}:${port}`));
  }

  linkOf(node: NodeId): URL | null {
    return this.links.get(node) ?? null;
  }

  ownerOf(identity: string): NodeId | null {
    return this.owners.get(identity) ?? null;
  }

  claim(identity: string): Promise<NodeId> {
    const id = this.nextClaim++;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.claims.delete(id);
        reject(new ClaimError(`the cluster's primary did not answer within ${CLAIM_WAIT_MS / 1000} s`));
      }, CLAIM_WAIT_MS);
      this.claims.set(id, { resolve, timer });
      this.ask({ type: 'claim', id, identity });
    });
  }

  /** The primary's answer to claim `id`. */
  claimAnswered(id: number, worker: NodeId): void {
    const claim = this.claims.get(id);
    if (claim === undefined) return;
    this.claims.delete(id);
    clearTimeout(claim.timer);
    // The primary told every worker the new owner before it answered: ownerOf() knows it already.
    claim.resolve(worker);
  }

  release(identity: string): void {
    if (this.owners.get(identity) === this.self) this.owners.delete(identity);
    this.ask({ type: 'release', identity });
  }

  /** The primary learns the link from the worker's `listening` message. */
  async start(): Promise<void> {}

  /** The primary's map has one owner per identity: a claim it granted is never lost. */
  onLost(): void {}

  /** One host: the owner's listeners are the host's ports, and there is no other host to mirror them. */
  setListeners(): void {}

  onListeners(): void {}

  status(): RegistryStatus {
    return registryStatus('primary', true, this.owners, this.links);
  }

  async close(): Promise<void> {}
}
