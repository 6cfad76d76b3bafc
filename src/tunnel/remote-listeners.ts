/*
 * The ports this instance listens on for its tunnel clients (remote forwards). A listener
 * belongs to an identity, not a connection: while a session waits out its grace period the
 * listener stays bound (new connections wait for the client), and when the same identity asks
 * for the same address again — a resumed session, or a restarted client — it takes the bound
 * listener over instead of meeting "address in use".
 */
import { once } from 'node:events';
import { createServer, type Server, type Socket } from 'node:net';
import { runGuarded, type Guarded } from '../lib/guard.js';
import { log } from '../lib/log.js';

/** A throw while handing it a connection ends the owner's session alone. */
export interface ListenerOwner extends Guarded {
  readonly identity: string;
  /** A connection arrived on the owner's listener number `listener`. */
  accepted(listener: number, socket: Socket): void;
}

interface Entry {
  readonly server: Server;
  owner: ListenerOwner;
  listener: number;
  readonly port: number;
  /** Its owner's session ended, possibly while it was still binding. */
  released: boolean;
  /** Ends the wait for a bind that a release overtook (a closed server says neither listening nor error). */
  readonly binding: AbortController;
}

export class RemoteListeners {
  private readonly byAddress = new Map<string, Entry>();
  /** The server drains: its clients listen through another instance now. */
  private stopped = false;

  /** Binds bind:port for `owner` (or takes it over from the same identity); resolves with the port. */
  async listen(owner: ListenerOwner, listener: number, bind: string, port: number): Promise<number> {
    const key = `${bind}:${port}`;
    if (this.stopped) throw new Error(`this server is shutting down: ${key} is not bound here`);
    const held = this.byAddress.get(key);
    if (held !== undefined) {
      if (held.owner.identity !== owner.identity) throw new Error(`${key} is held by another identity`);
      held.owner = owner;
      held.listener = listener;
      return held.port;
    }
    const server = createServer({ allowHalfOpen: true, pauseOnConnect: true });
    const entry: Entry = { server, owner, listener, port, released: false, binding: new AbortController() };
    server.on('connection', (socket: Socket) =>
      runGuarded(entry.owner, 'remote listener connection', () => {
        socket.setNoDelay(true);
        entry.owner.accepted(entry.listener, socket);
      }),
    );
    // Known before it is bound: a session that ends meanwhile must release this one too.
    this.byAddress.set(key, entry);
    server.listen({ host: bind, port, exclusive: true });
    const { signal } = entry.binding;
    try {
      await Promise.race([once(server, 'listening', { signal }), once(server, 'error', { signal }).then(([error]) => Promise.reject(error as Error))]);
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
    return (server.address() as { port: number }).port;
  }

  private forget(key: string, entry: Entry): void {
    entry.released = true;
    entry.binding.abort();
    entry.server.close();
    if (this.byAddress.get(key) === entry) this.byAddress.delete(key);
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
