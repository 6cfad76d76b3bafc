/*
 * The other workers of this host's cluster, as one worker sees them (docs/cluster.md, "What is
 * owned by one worker"). Besides the ports every worker shares, each listens on a loopback port
 * of its own, its link. A request for something another worker owns (a session, which its id
 * names) is relayed to that worker's link with the cluster's secret in LINK_HEADER; a link
 * serves nothing to a request without it. The primary makes the secret and tells every worker
 * where the others' links are (server/cluster-worker.ts).
 *
 * Tunnel identities have owners too: the worker that holds an identity's sessions. The primary
 * keeps the one map of owners, grants a claim to the first worker that makes it, and tells every
 * worker the map on each change; a worker asks it by claim() and lets go by release().
 */
import { createHash, timingSafeEqual } from 'node:crypto';

/** Carries the cluster's secret on a request one worker relays to another. */
export const LINK_HEADER = 'websocksy-link';

/** Where siblings' links listen: on this host, plain HTTP and WebSocket. */
export const LINK_HOST = '127.0.0.1';

/** What a worker asks of the primary about owners. */
export type OwnerRequest = { readonly type: 'claim'; readonly id: number; readonly identity: string } | { readonly type: 'release'; readonly identity: string };

/** How long a claim waits for the primary (it answers at once unless it is gone). */
const CLAIM_WAIT_MS = 5_000;

export class ClaimError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ClaimError';
  }
}

function digestOf(text: string): Buffer {
  return createHash('sha256').update(text, 'utf8').digest();
}

export class Siblings {
  private readonly links = new Map<number, URL>();
  private owners = new Map<string, number>();
  private readonly claims = new Map<number, { readonly resolve: (worker: number) => void; readonly timer: NodeJS.Timeout }>();
  private nextClaim = 1;
  /** The cluster's secret, shared by its workers alone; null until the primary has said it. */
  private shared: { readonly text: string; readonly digest: Buffer } | null = null;

  /** `self`: this worker's number (1..255); `ask` carries a request to the primary. */
  constructor(
    readonly self: number,
    private readonly ask: (request: OwnerRequest) => void,
  ) {}

  get secret(): string {
    return this.shared?.text ?? '';
  }

  /** The primary's word: the secret, every worker's link port (a restarted worker listens on a new one) and the identities' owners. */
  update(secret: string, ports: ReadonlyMap<number, number>, owners: ReadonlyMap<string, number>): void {
    if (this.shared?.text !== secret) this.shared = { text: secret, digest: digestOf(secret) };
    this.owners = new Map(owners);
    this.links.clear();
    for (const [worker, port] of ports) if (worker !== this.self) this.links.set(worker, new URL(`http://${LINK_HOST}:${port}`));
  }

  /** The link of worker `worker`, or null for this worker or one that does not listen now. */
  linkOf(worker: number): URL | null {
    return this.links.get(worker) ?? null;
  }

  /** The worker that owns tunnel identity `identity`, or null when none does. */
  ownerOf(identity: string): number | null {
    return this.owners.get(identity) ?? null;
  }

  /** Makes this worker the owner of `identity` unless another one is: resolves with the owner. */
  claim(identity: string): Promise<number> {
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
  claimAnswered(id: number, worker: number): void {
    const claim = this.claims.get(id);
    if (claim === undefined) return;
    this.claims.delete(id);
    clearTimeout(claim.timer);
    // The primary told every worker the new owner before it answered: ownerOf() knows it already.
    claim.resolve(worker);
  }

  /** This worker holds no session of `identity` any more. */
  release(identity: string): void {
    if (this.owners.get(identity) === this.self) this.owners.delete(identity);
    this.ask({ type: 'release', identity });
  }

  /** The request came from a sibling: `value` is LINK_HEADER's. Both sides hashed first, so the time says nothing of the secret. */
  admits(value: string | undefined): boolean {
    const { shared } = this;
    return shared !== null && value !== undefined && timingSafeEqual(shared.digest, digestOf(value));
  }
}
