/*
 * The WebSocket clients of one configuration's listeners (bridged clients, sessions' sockets,
 * websocket routes' and route modules' clients): counted for the log, closed together at
 * shutdown, and kept alive by one shared timer rather than a timer per connection. Every
 * `ping` seconds each client gets a ping, and one that sent nothing since the previous ping,
 * not even its pong, is dropped. Pinging busy and quiet clients alike keeps bytes crossing a
 * proxy in front, both ways, at least once a `ping` interval. A ping skipped for a client heard
 * from (its pong to the previous ping included) left a quiet connection silent for two
 * intervals: 60 s with the default of 30, which nginx's proxy_read_timeout and Apache's
 * Timeout, 60 s unless set, cut now and then.
 */
import { processOwner, runGuarded, type Guarded } from '../lib/guard.js';
import { LiveSet } from '../lib/live-set.js';

/** A client the sweep keeps alive (a Bridge, a session's WebSocket, a websocket route's Relay, a route module's socket). */
export interface KeptAlive extends Guarded {
  /**
   * Set by the client's owner whenever it hears from the client (a message or a pong), and true
   * for a new client; cleared by the sweep as it pings.
   */
  heard: boolean;
  ping(): void;
  /** Drops a client that stopped answering, without a close handshake. */
  terminate(reason: string): void;
  close(code: number, reason: string): void;
}

const sweeper = processOwner('keep-alive');

export class ClientSet {
  private readonly clients = new LiveSet<KeptAlive>();
  private timer: NodeJS.Timeout | null = null;

  get size(): number {
    return this.clients.size;
  }

  values(): Iterable<KeptAlive> {
    return this.clients;
  }

  add(client: KeptAlive): void {
    this.clients.add(client);
  }

  delete(client: KeptAlive): void {
    this.clients.delete(client);
  }

  /** Starts the keep-alive sweep; 0 seconds = off. */
  keepAlive(seconds: number): void {
    if (seconds === 0 || this.timer !== null) return;
    this.timer = setInterval(() => runGuarded(sweeper, 'keep-alive sweep', () => this.sweep(seconds)), seconds * 1000);
  }

  private sweep(seconds: number): void {
    for (const client of this.clients) {
      runGuarded(client, 'keep-alive', () => {
        if (!client.heard) {
          client.terminate(`no answer to ping within ${seconds} s`);
          return;
        }
        client.heard = false;
        client.ping();
      });
    }
  }

  /** Stops the sweep and closes every client with `code`; peers are then finished as usual. */
  closeAll(code: number, reason: string): void {
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
    for (const client of this.clients) runGuarded(client, 'shutdown', () => client.close(code, reason));
  }
}
