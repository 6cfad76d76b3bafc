/*
 * The other workers of this host's cluster, as one worker sees them (docs/cluster.md, "What is
 * owned by one worker"). Besides the ports every worker shares, each listens on a loopback port
 * of its own, its link. A request for something another worker owns (a session, which its id
 * names) is relayed to that worker's link with the cluster's secret in LINK_HEADER; a link
 * serves nothing to a request without it. The primary makes the secret and tells every worker
 * where the others' links are (server/cluster-worker.ts).
 */
import { createHash, timingSafeEqual } from 'node:crypto';

/** Carries the cluster's secret on a request one worker relays to another. */
export const LINK_HEADER = 'websocksy-link';

/** Where siblings' links listen: on this host, plain HTTP and WebSocket. */
export const LINK_HOST = '127.0.0.1';

function digestOf(text: string): Buffer {
  return createHash('sha256').update(text, 'utf8').digest();
}

export class Siblings {
  private readonly links = new Map<number, URL>();
  /** The cluster's secret, shared by its workers alone; null until the primary has said it. */
  private shared: { readonly text: string; readonly digest: Buffer } | null = null;

  /** `self`: this worker's number (1..255). */
  constructor(readonly self: number) {}

  get secret(): string {
    return this.shared?.text ?? '';
  }

  /** The primary's word: the secret, and every worker's link port (a restarted worker listens on a new one). */
  update(secret: string, ports: ReadonlyMap<number, number>): void {
    if (this.shared?.text !== secret) this.shared = { text: secret, digest: digestOf(secret) };
    this.links.clear();
    for (const [worker, port] of ports) if (worker !== this.self) this.links.set(worker, new URL(`http://${LINK_HOST}:${port}`));
  }

  /** The link of worker `worker`, or null for this worker or one that does not listen now. */
  linkOf(worker: number): URL | null {
    return this.links.get(worker) ?? null;
  }

  /** The request came from a sibling: `value` is LINK_HEADER's. Both sides hashed first, so the time says nothing of the secret. */
  admits(value: string | undefined): boolean {
    const { shared } = this;
    return shared !== null && value !== undefined && timingSafeEqual(shared.digest, digestOf(value));
  }
}
