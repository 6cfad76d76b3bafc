/*
 * The tunnel roles of one websocksy process, started from its configuration: the tunnel
 * server (an endpoint on the bridge's port), the upstream clients, and what the status
 * endpoint reports of them.
 */
import { TunnelClient } from './client.js';
import type { TunnelConfig } from './options.js';
import { TunnelServer } from './server.js';
import { tunnelStatus } from './status.js';

export class Tunnels {
  readonly server: TunnelServer | null;
  readonly clients: TunnelClient[];

  /** Reads the identities file: a bad one is a startup error. */
  constructor(config: TunnelConfig) {
    this.server = config.server === null ? null : new TunnelServer(config.server);
    this.clients = config.upstreams.map((upstream) => new TunnelClient(upstream));
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
