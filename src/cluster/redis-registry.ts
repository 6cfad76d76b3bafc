/*
 * The registry of instances on several hosts (registry.ts), in Redis (docs/cluster.md, "The
 * Redis layout"):
 *   websocksy:node:<node>          the node's link URL
 *   websocksy:identity:<name>      the number of the node that owns the identity
 *   websocksy:listeners:<name>     the remote listeners its owner bound: {"node":N,"addresses":["bind:port",...]}
 *   websocksy:changes              a channel: every claim, release, listener change and new node, for the others' maps
 * Every key has a TTL (`[cluster] ttl`), which its node refreshes every third of it, so a node
 * that dies leaves nothing behind for longer than that. A claim is SET NX: of two nodes that
 * claim one identity, Redis lets one win. A refresh extends a key only while it still names its
 * node (one script, atomic); one that names another node now (Redis restarted and another node
 * claimed first) makes this node let go of the identity: its sessions end and their clients,
 * reconnecting, reach the winner.
 *
 * Each node keeps the whole map in memory, read again in full every third of the TTL and
 * updated at once from the channel, so a lookup never waits. A map not read for longer than the
 * TTL (Redis unreachable) answers "unknown" for every other node's identity and link: the
 * request gets 503 and is retried, never sent to an owner that may no longer be one.
 */
import { Redis } from 'ioredis';
import { errorMessage } from '../lib/errors.js';
import { processOwner, runGuarded } from '../lib/guard.js';
import { log } from '../lib/log.js';
import { ClaimError, nodeName, registryStatus, type ListenerSet, type NodeId, type Registry, type RegistryStatus } from './registry.js';

const PREFIX = 'websocksy:';
const NODE_KEYS = `${PREFIX}node:`;
const IDENTITY_KEYS = `${PREFIX}identity:`;
const LISTENER_KEYS = `${PREFIX}listeners:`;
const CHANGES = `${PREFIX}changes`;

/** Extends KEYS[1] by ARGV[2] ms if it still holds ARGV[1]; 1 if it did. */
const EXTEND_IF_MINE = "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) else return 0 end";
/** Deletes KEYS[1] if it still holds ARGV[1]. */
const DELETE_IF_MINE = "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) else return 0 end";

/** What a change on the channel says: an identity's owner (null: released), a node's link, or an identity's listeners. */
type Change =
  | { readonly identity: string; readonly node: NodeId | null }
  | { readonly node: NodeId; readonly link: string }
  | { readonly listenersOf: string; readonly set: ListenerSet | null };

const owner = processOwner('cluster registry');

function parseNode(value: string | null): NodeId | null {
  if (value === null || !/^\d{1,5}$/.test(value)) return null;
  const node = Number(value);
  return node <= 0xffff ? node : null;
}

function parseJson(text: string): Record<string, unknown> | null {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return null;
  }
  return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>) : null;
}

/** An address a remote listener can be bound to: `host:port`, the host without spaces or slashes. */
const LISTENER_ADDRESS = /^[^\s/]{1,253}:\d{1,5}$/;

function parseListenerSet(value: unknown): ListenerSet | null {
  if (typeof value !== 'object' || value === null) return null;
  const { node, addresses } = value as Record<string, unknown>;
  if (!Number.isInteger(node) || !Array.isArray(addresses)) return null;
  if (!addresses.every((address) => typeof address === 'string' && LISTENER_ADDRESS.test(address))) return null;
  return { node: node as NodeId, addresses: addresses as string[] };
}

function parseChange(text: string): Change | null {
  const record = parseJson(text);
  if (record === null) return null;
  if (typeof record['listenersOf'] === 'string') return { listenersOf: record['listenersOf'], set: parseListenerSet(record['set']) };
  if (typeof record['identity'] === 'string' && (record['node'] === null || Number.isInteger(record['node']))) return { identity: record['identity'], node: record['node'] as NodeId | null };
  if (Number.isInteger(record['node']) && typeof record['link'] === 'string') return { node: record['node'] as NodeId, link: record['link'] };
  return null;
}

export interface RedisRegistryOptions {
  readonly url: string;
  readonly self: NodeId;
  readonly ttlMs: number;
}

export class RedisRegistry implements Registry {
  private readonly redis: Redis;
  private readonly subscriber: Redis;
  private links = new Map<NodeId, URL>();
  private owners = new Map<string, NodeId>();
  /** Identities this node owns: refreshed, and served whatever the map says. */
  private readonly owned = new Set<string>();
  private listenerSets = new Map<string, ListenerSet>();
  /** Each listener set this node wrote (as its key's value, in JSON), refreshed with its identity's key. */
  private readonly ownListeners = new Map<string, string>();
  private listenersChanged: (listeners: ReadonlyMap<string, ListenerSet>) => void = () => undefined;
  /** When the whole map was last read: older than the TTL, it is not believed. */
  private syncedAt = 0;
  private timer: NodeJS.Timeout | null = null;
  private refreshing = false;
  /** Redis answered the last refresh: a failure is logged once per outage. */
  private reachable = true;
  private lost: (identity: string) => void = () => undefined;
  /** This node's link, as the others reach it; known once it listens. */
  private link: URL | null = null;
  /** Nodes announced on the channel while the map is being read, or null between reads. */
  private heardDuringRead: Map<NodeId, URL> | null = null;
  /** What the last failed connection said (ioredis's own rejections only say "Connection is closed"). */
  private lastError = '';

  constructor(private readonly options: RedisRegistryOptions) {
    const settings = { lazyConnect: true, maxRetriesPerRequest: 1, enableOfflineQueue: false, retryStrategy: (times: number) => Math.min(100 * times, 1000) };
    this.redis = new Redis(options.url, settings);
    this.subscriber = new Redis(options.url, settings);
    // ioredis reports every failed reconnection here; a refresh that fails says so once.
    const remember = (error: Error): void => void (this.lastError = errorMessage(error));
    this.redis.on('error', remember);
    this.subscriber.on('error', remember);
    this.subscriber.on('message', (_channel: string, text: string) => runGuarded(owner, 'cluster change', () => this.heard(text)));
    // A subscription does not survive a reconnection by itself; the map is read again too.
    this.subscriber.on('ready', () => runGuarded(owner, 'cluster subscribe', () => void this.subscriber.subscribe(CHANGES).catch(() => undefined)));
  }

  /** Connects, says where this node's link is, reads the map; rejects naming Redis when it cannot. */
  async start(link: URL): Promise<void> {
    this.link = link;
    try {
      await Promise.all([this.redis.connect(), this.subscriber.connect()]);
      // Listening before the first read: a node either is in the map read, or announces itself on the channel after it.
      await this.subscriber.subscribe(CHANGES);
      await this.refresh();
    } catch (error) {
      this.redis.disconnect();
      this.subscriber.disconnect();
      throw new Error(`cannot reach the cluster's Redis at ${this.options.url}: ${this.lastError || errorMessage(error)}`);
    }
    if (!this.reachable) throw new Error(`cannot reach the cluster's Redis at ${this.options.url}`);
    this.timer = setInterval(() => runGuarded(owner, 'cluster refresh', () => void this.refresh()), this.options.ttlMs / 3);
  }

  get fresh(): boolean {
    return Date.now() - this.syncedAt <= this.options.ttlMs;
  }

  linkOf(node: NodeId): URL | null {
    return this.fresh ? (this.links.get(node) ?? null) : null;
  }

  ownerOf(identity: string): NodeId | null {
    if (this.owned.has(identity)) return this.options.self;
    return this.fresh ? (this.owners.get(identity) ?? null) : null;
  }

  async claim(identity: string): Promise<NodeId> {
    const { self, ttlMs } = this.options;
    const key = IDENTITY_KEYS + identity;
    try {
      for (let attempt = 0; attempt < 2; attempt++) {
        if ((await this.redis.set(key, String(self), 'PX', ttlMs, 'NX')) === 'OK') {
          this.own(identity);
          return self;
        }
        const holder = parseNode(await this.redis.get(key));
        // Expired between the two: try once more.
        if (holder === null) continue;
        if (holder === self) this.own(identity);
        else this.owners.set(identity, holder);
        return holder;
      }
    } catch (error) {
      throw new ClaimError(`the cluster's Redis did not answer: ${errorMessage(error)}`);
    }
    throw new ClaimError(`the owner of ${identity} kept changing`);
  }

  private own(identity: string): void {
    this.owned.add(identity);
    this.owners.set(identity, this.options.self);
    this.publish({ identity, node: this.options.self });
  }

  release(identity: string): void {
    if (!this.owned.delete(identity)) return;
    this.owners.delete(identity);
    this.setListeners(identity, []);
    const { self } = this.options;
    this.redis.eval(DELETE_IF_MINE, 1, IDENTITY_KEYS + identity, String(self)).then(
      () => this.publish({ identity, node: null }),
      // The key expires by itself within the TTL.
      (error: unknown) => log.warn('cluster release failed', { identity, why: errorMessage(error) }),
    );
  }

  onLost(lost: (identity: string) => void): void {
    this.lost = lost;
  }

  setListeners(identity: string, addresses: readonly string[]): void {
    const key = LISTENER_KEYS + identity;
    const written = this.ownListeners.get(identity);
    if (addresses.length === 0 || !this.owned.has(identity)) {
      if (written === undefined) return;
      this.ownListeners.delete(identity);
      this.listenerSets.delete(identity);
      this.redis.eval(DELETE_IF_MINE, 1, key, written).then(
        () => this.publish({ listenersOf: identity, set: null }),
        (error: unknown) => log.warn('cluster listeners not withdrawn', { identity, why: errorMessage(error), note: 'they expire with the TTL' }),
      );
      return;
    }
    const set: ListenerSet = { node: this.options.self, addresses: [...addresses].sort() };
    const value = JSON.stringify(set);
    if (value === written) return;
    this.ownListeners.set(identity, value);
    this.listenerSets.set(identity, set);
    this.redis.set(key, value, 'PX', this.options.ttlMs).then(
      () => this.publish({ listenersOf: identity, set }),
      // The next refresh writes it again.
      (error: unknown) => log.warn('cluster listeners not published yet', { identity, why: errorMessage(error) }),
    );
  }

  onListeners(changed: (listeners: ReadonlyMap<string, ListenerSet>) => void): void {
    this.listenersChanged = changed;
  }

  status(): RegistryStatus {
    return registryStatus('redis', this.fresh, this.owners, this.links);
  }

  async close(): Promise<void> {
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
    const { self } = this.options;
    try {
      // Leaving on purpose: the others need not wait out the TTL.
      await Promise.all([...this.owned].map((identity) => this.redis.eval(DELETE_IF_MINE, 1, IDENTITY_KEYS + identity, String(self))));
      await Promise.all([...this.ownListeners].map(([identity, value]) => this.redis.eval(DELETE_IF_MINE, 1, LISTENER_KEYS + identity, value)));
      if (this.link !== null) await this.redis.eval(DELETE_IF_MINE, 1, NODE_KEYS + String(self), this.link.href);
    } catch {
      // Unreachable: the keys expire by themselves.
    }
    this.redis.disconnect();
    this.subscriber.disconnect();
  }

  private publish(change: Change): void {
    this.redis.publish(CHANGES, JSON.stringify(change)).catch(() => undefined);
  }

  private heard(text: string): void {
    const change = parseChange(text);
    if (change === null) return;
    if ('listenersOf' in change) {
      if (this.ownListeners.has(change.listenersOf)) return;
      if (change.set === null) this.listenerSets.delete(change.listenersOf);
      else this.listenerSets.set(change.listenersOf, change.set);
      this.listenersChanged(this.listenerSets);
    } else if ('link' in change) {
      let link: URL;
      try {
        link = new URL(change.link);
      } catch {
        return;
      }
      this.noteJoined(change.node, link);
      this.links.set(change.node, link);
      this.heardDuringRead?.set(change.node, link);
    } else {
      if (change.node === null) {
        if (!this.owned.has(change.identity)) this.owners.delete(change.identity);
      } else if (!this.owned.has(change.identity)) this.owners.set(change.identity, change.node);
      // A mirror stops when its identity's owner moves to the mirror's own instance.
      this.listenersChanged(this.listenerSets);
    }
  }

  /** Refreshes this node's keys, then reads the whole map. One at a time. */
  private async refresh(): Promise<void> {
    if (this.refreshing) return;
    this.refreshing = true;
    try {
      await this.refreshKeys();
      await this.readMap();
      this.syncedAt = Date.now();
      if (!this.reachable) log.info('cluster registry reachable again', { redis: this.options.url });
      this.reachable = true;
    } catch (error) {
      if (this.reachable) log.warn('cluster registry unreachable', { redis: this.options.url, why: errorMessage(error), note: `other nodes' identities answer 503 once the map is ${this.options.ttlMs} ms old` });
      this.reachable = false;
    } finally {
      this.refreshing = false;
    }
  }

  private async refreshKeys(): Promise<void> {
    const { self, ttlMs } = this.options;
    const { link } = this;
    if (link !== null) {
      const announced = (await this.redis.set(NODE_KEYS + String(self), link.href, 'PX', ttlMs, 'GET')) !== link.href;
      if (announced) this.publish({ node: self, link: link.href });
    }
    for (const identity of [...this.owned]) {
      const key = IDENTITY_KEYS + identity;
      const listeners = this.ownListeners.get(identity);
      if (listeners !== undefined) await this.redis.set(LISTENER_KEYS + identity, listeners, 'PX', ttlMs);
      if ((await this.redis.eval(EXTEND_IF_MINE, 1, key, String(self), ttlMs)) === 1) continue;
      // The key is gone (Redis restarted, or it expired while Redis was away) or names another node.
      if ((await this.redis.set(key, String(self), 'PX', ttlMs, 'NX')) === 'OK') continue;
      const holder = parseNode(await this.redis.get(key));
      if (holder === self) continue;
      this.owned.delete(identity);
      this.ownListeners.delete(identity);
      if (holder !== null) this.owners.set(identity, holder);
      log.warn('identity lost to another node', { identity, owner: holder === null ? undefined : nodeName(holder) });
      this.lost(identity);
    }
  }

  private async readMap(): Promise<void> {
    // A node that announces itself after its key was scanned past would be missing from the new
    // map until the next read: what the channel says meanwhile is kept and added to it.
    const heard = new Map<NodeId, URL>();
    this.heardDuringRead = heard;
    try {
      await this.readMapInto(heard);
    } finally {
      this.heardDuringRead = null;
    }
  }

  private async readMapInto(heard: ReadonlyMap<NodeId, URL>): Promise<void> {
    const links = new Map<NodeId, URL>();
    for (const [name, value] of await this.readKeys(NODE_KEYS)) {
      const node = parseNode(name);
      if (node === null || value === null || !URL.canParse(value)) continue;
      links.set(node, new URL(value));
    }
    const owners = new Map<string, NodeId>();
    for (const [identity, value] of await this.readKeys(IDENTITY_KEYS)) {
      const node = parseNode(value);
      if (node !== null) owners.set(identity, node);
    }
    for (const identity of this.owned) owners.set(identity, this.options.self);
    const listenerSets = new Map<string, ListenerSet>();
    for (const [identity, value] of await this.readKeys(LISTENER_KEYS)) {
      const set = value === null ? null : parseListenerSet(parseJson(value));
      if (set !== null) listenerSets.set(identity, set);
    }
    // Ours as we last wrote them, whatever Redis held when it was read.
    for (const identity of this.ownListeners.keys()) {
      const set = this.listenerSets.get(identity);
      if (set !== undefined) listenerSets.set(identity, set);
    }
    for (const [node, link] of heard) if (!links.has(node)) links.set(node, link);
    this.noteMembership(links);
    this.links = links;
    this.owners = owners;
    this.listenerSets = listenerSets;
    this.listenersChanged(listenerSets);
  }

  /** Logs the nodes that joined this node's map or left it since the last read (a node gone from it answers for nothing). */
  private noteMembership(links: ReadonlyMap<NodeId, URL>): void {
    for (const [node, link] of links) this.noteJoined(node, link);
    for (const node of this.links.keys()) if (!links.has(node) && node !== this.options.self) log.info('cluster node gone', { node: nodeName(node), why: `its key is gone: it stopped, or did not refresh it for ${this.options.ttlMs} ms` });
  }

  /** Logs `node` as joined when the map does not know it yet (heard on the channel, or found by a read). */
  private noteJoined(node: NodeId, link: URL): void {
    if (!this.links.has(node) && node !== this.options.self) log.info('cluster node joined', { node: nodeName(node), link: link.href });
  }

  /** Every key under `prefix` (SCAN, then MGET per batch): its name after the prefix, and its value (null if it expired meanwhile). */
  private async readKeys(prefix: string): Promise<Array<[string, string | null]>> {
    const found: Array<[string, string | null]> = [];
    let cursor = '0';
    do {
      const [next, keys] = await this.redis.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000);
      cursor = next;
      if (keys.length === 0) continue;
      const values = await this.redis.mget(keys);
      keys.forEach((key, index) => found.push([key.slice(prefix.length), values[index] ?? null]));
    } while (cursor !== '0');
    return found;
  }
}
