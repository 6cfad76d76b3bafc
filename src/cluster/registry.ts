/*
 * Who holds what in a cluster (docs/cluster.md): every node (a worker, or an instance of a
 * cluster across hosts) has a link where the others relay to it, and every tunnel identity has
 * at most one owner node. One host's workers keep the map in their primary (worker-registry.ts);
 * instances on several hosts keep it in Redis (redis-registry.ts). Lookups answer from memory:
 * a request is never held for the map.
 */

/**
 * A node's number: the instance's (`[cluster] instance`, 0 without Redis) times 256, plus the
 * worker's (1..255; 0 for a server without workers). A session id carries it (session/secrets.ts).
 */
export type NodeId = number;

export function nodeId(instance: number, worker: number): NodeId {
  return instance * 256 + worker;
}

/** The instance a node belongs to (0 without Redis). */
export function instanceOf(node: NodeId): number {
  return Math.floor(node / 256);
}

/** The node's worker number within its instance (0 for an instance without workers). */
export function workerOf(node: NodeId): number {
  return node % 256;
}

/** A node as the log names it: `worker 2`, `instance 3`, `instance 3 worker 2`. */
export function nodeName(node: NodeId): string {
  const instance = instanceOf(node);
  const worker = workerOf(node);
  if (instance === 0) return `worker ${worker}`;
  return worker === 0 ? `instance ${instance}` : `instance ${instance} worker ${worker}`;
}

export interface Registry {
  /**
   * The map is believed: Redis answered within the TTL (always, for the primary's). A node an
   * up-to-date map does not list is gone, with what it held; one a stale map does not list may
   * still be there.
   */
  readonly fresh: boolean;
  /** Begins serving as node of the cluster, whose link the others reach at `link`; rejects when the registry cannot be reached. */
  start(link: URL): Promise<void>;
  /** Where node `node` listens for its siblings, or null when it does not now (or the map is out of date). */
  linkOf(node: NodeId): URL | null;
  /** The node that owns `identity`, or null when none does (or the map is out of date). */
  ownerOf(identity: string): NodeId | null;
  /** Makes this node the owner of `identity` unless another one is: resolves with the owner, rejects when the map cannot be reached. */
  claim(identity: string): Promise<NodeId>;
  /** This node holds no session of `identity` any more. */
  release(identity: string): void;
  /** `lost` is called when another node turned out to own an identity this one claimed (a split, resolved). */
  onLost(lost: (identity: string) => void): void;
  /**
   * This node owns `identity` and has bound the remote listeners `addresses` (`bind:port`) for
   * it; none: it has let them go. Kept only across hosts: one host's workers share its ports.
   */
  setListeners(identity: string, addresses: readonly string[]): void;
  /** `changed` hears every identity's bound listeners whenever the map may have changed. */
  onListeners(changed: (listeners: ReadonlyMap<string, ListenerSet>) => void): void;
  /** For the status JSON: the map as this node sees it. */
  status(): RegistryStatus;
  close(): Promise<void>;
}

/** The remote listeners an identity's owner has bound. */
export interface ListenerSet {
  readonly node: NodeId;
  readonly addresses: readonly string[];
}

export interface RegistryStatus {
  /** `primary` (one host's workers) or `redis`. */
  readonly kind: 'primary' | 'redis';
  /** The map is believed (Redis answered within the TTL; always for the primary's). */
  readonly fresh: boolean;
  /** Each tunnel identity and the node that owns it. */
  readonly owners: Readonly<Record<string, string>>;
  /** The nodes whose links are known, by name. */
  readonly nodes: readonly string[];
}

/** A RegistryStatus of `owners` and `links`, names spelled out. */
export function registryStatus(kind: RegistryStatus['kind'], fresh: boolean, owners: ReadonlyMap<string, NodeId>, links: ReadonlyMap<NodeId, URL>): RegistryStatus {
  return {
    kind,
    fresh,
    owners: Object.fromEntries([...owners].map(([identity, node]) => [identity, nodeName(node)])),
    nodes: [...links.keys()].sort((a, b) => a - b).map(nodeName),
  };
}

export class ClaimError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ClaimError';
  }
}
