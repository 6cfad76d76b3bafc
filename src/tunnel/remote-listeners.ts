/*
 * The ports this instance listens on for its tunnel clients (remote forwards). A listener
 * belongs to an identity, not a connection: while a session waits out its grace period the
 * listener stays bound, and when the same identity asks for the same address again — a resumed
 * session, or a restarted client — it takes the bound listener over instead of meeting "address
 * in use". A connection that arrives while the listener's session is detached waits here,
 * unread, for whichever comes first: that session's return, or a newer session of the identity
 * asking for the address (a restarted client, whose old session will never return: handing the
 * connection to that one left it hanging until the old session's grace ran out). When the
 * listener closes, what still waits is reset.
 */
import { once } from 'node:events';
import { createServer, type Server, type Socket } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { runGuarded, type Guarded } from '../lib/guard.js';
import { log } from '../lib/log.js';
import { resetConnection } from '../lib/reset-connection.js';
import { adoptSharedRead } from '../lib/shared-read.js';
import type { StreamSocket } from './stream.js';

/** A throw while handing it a connection ends the owner's session alone. */
export interface ListenerOwner extends Guarded {
  readonly identity: string;
  /** Its client is connected now; a connection for a detached owner waits in the listener. */
  readonly attached: boolean;
  /** Streams its session may hold: as many connections may wait for it. */
  readonly maxStreams: number;
  /** A connection arrived on the owner's listener number `listener` (or was relayed to it by another node). */
  accepted(listener: number, socket: StreamSocket): void;
}

/** What a cluster needs to hear of the listeners (tunnel/mirrored-listeners.ts). */
export interface ListenerHooks {
  /** Before `address` is bound here: a mirror of it in this process lets go. */
  beforeBind(address: string): void;
  /** `identity`'s bound addresses changed: the other instances mirror them. */
  changed(identity: string): void;
  /** How long a bind may retry "address in use" (another worker of this instance may still mirror it). */
  readonly busyRetryMs: number;
}

/** Between two binds of an address in use. */
const BUSY_RETRY_INTERVAL_MS = 100;

/**
 * Addresses one identity may have bound at once. A listen rule without a bind address (`*:PORT`)
 * admits every local address: a client that asked for 127.0.0.1:PORT, 127.0.0.2:PORT and on had
 * the server bind a descriptor per request, thousands of them, until accept() failed for everyone.
 */
export const MAX_LISTENERS_PER_IDENTITY = 256;

interface Entry {
  readonly server: Server;
  owner: ListenerOwner;
  listener: number;
  readonly port: number;
  /** Its owner's session ended, possibly while it was still binding. */
  released: boolean;
  /** `bind:port` with the port bound (the asked one may be 0); null while binding. */
  bound: string | null;
  /** Ends the wait for a bind that a release overtook (a closed server says neither listening nor error). */
  readonly binding: AbortController;
  /** Connections accepted while the owner was detached, unread, oldest first. */
  readonly waiting: StreamSocket[];
}

export class RemoteListeners {
  private readonly byAddress = new Map<string, Entry>();
  /** The server drains: its clients listen through another instance now. */
  private stopped = false;

  constructor(private readonly hooks: ListenerHooks | null = null) {}

  /** Binds bind:port for `owner` (or takes it over from the same identity); resolves with the port. */
  async listen(owner: ListenerOwner, listener: number, bind: string, port: number): Promise<number> {
    const key = `${bind}:${port}`;
    if (this.stopped) throw new Error(`this server is shutting down: ${key} is not bound here`);
    const held = this.byAddress.get(key);
    if (held !== undefined) {
      if (held.owner.identity !== owner.identity) throw new Error(`${key} is held by another identity`);
      held.owner = owner;
      held.listener = listener;
      this.handWaiting(held);
      return held.port;
    }
    const heldByIdentity = this.countOf(owner.identity);
    if (heldByIdentity >= MAX_LISTENERS_PER_IDENTITY) throw new Error(`identity ${owner.identity} already listens on ${heldByIdentity} addresses (limit ${MAX_LISTENERS_PER_IDENTITY})`);
    const server = createServer({ allowHalfOpen: true, pauseOnConnect: true });
    const entry: Entry = { server, owner, listener, port, released: false, bound: null, binding: new AbortController(), waiting: [] };
    server.on('connection', (accepted: Socket) =>
      runGuarded(entry.owner, 'remote listener connection', () => {
        const socket = adoptSharedRead(accepted);
        socket.setNoDelay(true);
        this.deliver(key, entry, socket);
      }),
    );
    // Known before it is bound: a session that ends meanwhile must release this one too.
    this.byAddress.set(key, entry);
    this.hooks?.beforeBind(key);
    try {
      await this.bind(entry, bind, port);
    } catch (error) {
      if (entry.released) throw new Error(`the session ended while ${key} was being bound`);
      this.forget(key, entry);
      throw new Error(`cannot listen on ${key}: ${(error as NodeJS.ErrnoException).code ?? String(error)}`);
    } finally {
      entry.binding.abort();
    }
    if (entry.released) throw new Error(`the session ended while ${key} was being bound`);
    server.on('error', (error: NodeJS.ErrnoException) =>
      runGuarded(entry.owner, 'remote listener error', () => log.error('remote listener failed', { ...entry.owner.logFields, address: key, error: error.code ?? error.message })),
    );
    const bound = (server.address() as { port: number }).port;
    entry.bound = `${bind}:${bound}`;
    this.hooks?.changed(owner.identity);
    return bound;
  }

  /** Binds, retrying "address in use" while the hooks allow (a sibling's mirror letting go). */
  private async bind(entry: Entry, bind: string, port: number): Promise<void> {
    const { server, binding } = entry;
    const { signal } = binding;
    const deadline = Date.now() + (this.hooks?.busyRetryMs ?? 0);
    for (;;) {
      server.listen({ host: bind, port, exclusive: true });
      try {
        await Promise.race([once(server, 'listening', { signal }), once(server, 'error', { signal }).then(([error]) => Promise.reject(error as Error))]);
        return;
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'EADDRINUSE' || Date.now() >= deadline || entry.released) throw error;
      }
      await sleep(BUSY_RETRY_INTERVAL_MS, undefined, { signal });
    }
  }

  /** Listeners of `identity`, bound or binding. */
  private countOf(identity: string): number {
    let count = 0;
    for (const entry of this.byAddress.values()) if (entry.owner.identity === identity && !entry.released) count++;
    return count;
  }

  /** Connections waiting for `owner` in all its listeners: the stream limit bounds them together, not each listener's. */
  private waitingFor(owner: ListenerOwner): number {
    let count = 0;
    for (const entry of this.byAddress.values()) if (entry.owner === owner) count += entry.waiting.length;
    return count;
  }

  /** Hands `socket` to the listener's session, or keeps it waiting while that session is detached. */
  private deliver(key: string, entry: Entry, socket: StreamSocket): void {
    if (entry.owner.attached) {
      entry.owner.accepted(entry.listener, socket);
      return;
    }
    const limit = entry.owner.maxStreams;
    if (this.waitingFor(entry.owner) >= limit) {
      log.warn('remote listener connection reset', { ...entry.owner.logFields, address: key, why: `${limit} connections (the session's stream limit) already wait for its client to return` });
      resetConnection(socket);
      return;
    }
    entry.waiting.push(socket);
  }

  /** The connections waiting in `entry`, to its owner if it is attached now. */
  private handWaiting(entry: Entry): void {
    if (!entry.owner.attached) return;
    const { owner, listener } = entry;
    for (const socket of entry.waiting.splice(0)) runGuarded(owner, 'remote listener connection', () => owner.accepted(listener, socket));
  }

  /** `owner`'s client is back (a resume): the connections its listeners kept waiting go to it. */
  ownerAttached(owner: ListenerOwner): void {
    for (const entry of this.byAddress.values()) if (entry.owner === owner) this.handWaiting(entry);
  }

  private forget(key: string, entry: Entry): void {
    entry.released = true;
    entry.binding.abort();
    entry.server.close();
    for (const socket of entry.waiting.splice(0)) resetConnection(socket);
    if (this.byAddress.get(key) === entry) this.byAddress.delete(key);
    if (entry.bound !== null) this.hooks?.changed(entry.owner.identity);
  }

  /** The addresses bound for `identity`, as the other instances mirror them. */
  boundOf(identity: string): string[] {
    const bound: string[] = [];
    for (const entry of this.byAddress.values()) if (entry.owner.identity === identity && entry.bound !== null && !entry.released) bound.push(entry.bound);
    return bound;
  }

  hasBound(address: string): boolean {
    for (const entry of this.byAddress.values()) if (entry.bound === address && !entry.released) return true;
    return false;
  }

  /** A connection another node accepted on its mirror of `address`: false when no listener here has that address. */
  acceptRelayed(address: string, socket: StreamSocket): boolean {
    for (const entry of this.byAddress.values()) {
      if (entry.bound !== address || entry.released) continue;
      runGuarded(entry.owner, 'relayed remote listener connection', () => this.deliver(address, entry, socket));
      return true;
    }
    return false;
  }

  /** Closes every listener `owner` still holds (its session ended). */
  release(owner: ListenerOwner): void {
    for (const [key, entry] of this.byAddress) {
      if (entry.owner === owner) this.forget(key, entry);
    }
  }

  /** Draining: every listener closes at once (connections it accepted go on), and none binds again. */
  stopAll(): void {
    this.stopped = true;
    for (const [key, entry] of this.byAddress) this.forget(key, entry);
  }

  addressesOf(owner: ListenerOwner): string[] {
    return [...this.byAddress].filter(([, entry]) => entry.owner === owner).map(([key]) => key);
  }
}
