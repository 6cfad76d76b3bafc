/*
 * The WebSocket clients of one listener (clients, sessions' sockets): counted for the log,
 * closed together at shutdown, and kept alive by one shared timer rather than a timer per
 * connection. Every `ping` seconds each client gets a ping, and one that sent nothing since the
 * previous ping, not even its pong, is dropped. Pinging busy and quiet clients alike keeps
 * bytes crossing every proxy in between, both ways, at least once a `ping` interval: a ping
 * skipped for a client heard from, or answered a moment ago, would leave a quiet connection
 * silent for two intervals, and a client that only sends would never hear from websocksy, so
 * a proxy whose idle timer counts the other way (nginx's proxy_read_timeout, Apache's
 * Timeout) would cut it.
 */
import { processOwner, runGuarded, type Guarded } from '../lib/guard.js';
import { LiveSet } from '../lib/live-set.js';

/** A client the sweep keeps alive (Bridge and a session's WebSocket). */
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
