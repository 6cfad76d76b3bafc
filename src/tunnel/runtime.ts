/*
 * The tunnel roles of one websocksy process, started from its configuration: the tunnel
 * server (an endpoint on the bridge's port), the upstream clients, and what the status
 * endpoint reports of them. In a cluster, an instance's worker 1 alone keeps its upstreams (one
 * connection per identity, and one bind per local forward), and a tunnel identity is served by the node
 * that owns it: siblingHolding() says where an HTTP route `via` one must be relayed.
 */
import type { SiblingLink } from '../cluster/sibling-relay.js';
import { nodeId } from '../cluster/registry.js';
import type { Siblings } from '../cluster/siblings.js';
import { TunnelClient } from './client.js';
import type { TunnelConfig } from './options.js';
import { TunnelServer } from './server.js';
import { tunnelStatus } from './status.js';

/** The worker of a cluster that keeps the [upstream] tunnels. */
const UPSTREAM_WORKER = 1;

export class Tunnels {
  readonly server: TunnelServer | null;
  readonly clients: TunnelClient[];
  private readonly upstreamLabels: ReadonlySet<string>;

  /** Reads the identities file: a bad one is a startup error. `siblings`: the cluster's other nodes, when this process is one. */
  constructor(
    config: TunnelConfig,
    private readonly siblings: Siblings | null = null,
  ) {
    this.server = config.server === null ? null : new TunnelServer(config.server, siblings);
    // A node's worker number: 0 for a server without workers, which keeps its own.
    const keepsUpstreams = siblings === null || siblings.self % 256 <= UPSTREAM_WORKER;
    this.clients = keepsUpstreams ? config.upstreams.map((upstream) => new TunnelClient(upstream)) : [];
    this.upstreamLabels = new Set(config.upstreams.map((upstream) => upstream.label));
  }

  /** The node to relay a request `via` an upstream or identity to, when another node of the cluster serves it; else null. */
  siblingHolding(via: string): SiblingLink | null {
    const { siblings } = this;
    if (siblings === null) return null;
    // An upstream is this instance's own: its worker 1 keeps it (across hosts, every instance keeps its own).
    const node = this.upstreamLabels.has(via) ? (siblings.self % 256 === 0 ? null : nodeId(Math.floor(siblings.self / 256), UPSTREAM_WORKER)) : siblings.ownerOf(via);
    if (node === null || node === siblings.self) return null;
    const link = siblings.linkOf(node);
    return link === null ? null : { siblings, node, link };
  }

  status(): object {
    return tunnelStatus(this.server, this.clients);
  }

  /** Binds the local forwards and starts connecting upstream. */
  async start(): Promise<void> {
    for (const client of this.clients) await client.start();
  }

  reload(): void {
    this.server?.reload();
  }

  /** The status page's close of the tunnel session shown as `shown` (status.ts). */
  endByOperator(shown: string, reason: string): 'ended' | 'none' | 'ambiguous' {
    return this.server?.endByOperator(shown, reason) ?? 'none';
  }

  shutdown(): void {
    for (const client of this.clients) client.close();
    this.server?.shutdown();
  }
}
