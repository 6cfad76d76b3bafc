/*
 * The other nodes of this one's cluster, as it sees them (docs/cluster.md, "Owned by one
 * worker"): the workers of its host, and with Redis the instances of other hosts too. Besides
 * the ports a node serves its clients on, each listens on a link of its own. A request for
 * something another node holds (a session, which its id names; a tunnel identity, which the
 * registry says who owns) is relayed to that node's link with the cluster's secret in
 * LINK_HEADER; a link serves nothing to a request without it.
 */
import { digest, sameSecret } from '../lib/secret.js';
import { nodeName, type NodeId, type Registry } from './registry.js';

export class Siblings {
  /** The cluster's secret, shared by its nodes alone; null until it is known (a worker hears it from its primary). */
  private shared: { readonly text: string; readonly digest: Buffer } | null = null;

  /** `self`: this node's number. */
  constructor(
    readonly self: NodeId,
    readonly registry: Registry,
  ) {}

  get secret(): string {
    return this.shared?.text ?? '';
  }

  setSecret(secret: string): void {
    if (this.shared?.text !== secret) this.shared = { text: secret, digest: digest(secret) };
  }

  /** The link of node `node`, or null for this node or one that cannot be reached now. */
  linkOf(node: NodeId): URL | null {
    return node === this.self ? null : this.registry.linkOf(node);
  }

  ownerOf(identity: string): NodeId | null {
    return this.registry.ownerOf(identity);
  }

  claim(identity: string): Promise<NodeId> {
    return this.registry.claim(identity);
  }

  release(identity: string): void {
    this.registry.release(identity);
  }

  /** For the status JSON: this node, and the registry as it sees it. */
  status(): object {
    return { node: nodeName(this.self), ...this.registry.status() };
  }

  /** The request came from a sibling: `value` is LINK_HEADER's, compared in constant time (lib/secret.ts). */
  admits(value: string | undefined): boolean {
    const { shared } = this;
    return shared !== null && value !== undefined && sameSecret(value, shared.digest);
  }
}
