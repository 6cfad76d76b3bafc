/*
 * The tunnel roles of one websocksy process, started from its configuration: the tunnel
 * server (a route on the bridge's port), the upstream clients, and the status endpoint.
 */
import type { TemplatedApp } from 'uWebSockets.js';
import { TunnelClient } from './client.js';
import type { TunnelConfig } from './config.js';
import { TunnelServer } from './server.js';
import { statusRoute, tunnelStatus } from './status.js';

export class Tunnels {
  readonly server: TunnelServer | null;
  readonly clients: TunnelClient[];
  readonly routes: Array<(app: TemplatedApp) => void> = [];

  /** Reads the identities file: a bad one is a startup error. */
  constructor(config: TunnelConfig) {
    this.server = config.server === null ? null : new TunnelServer(config.server);
    this.clients = config.upstreams.map((upstream) => new TunnelClient(upstream));
    if (this.server !== null) {
      const server = this.server;
      this.routes.push((app) => server.route(app));
    }
    if (config.statusPath !== null) this.routes.push(statusRoute(config.statusPath, () => tunnelStatus(this.server, this.clients)));
  }

  /** Binds the local forwards and starts connecting upstream. */
  async start(): Promise<void> {
    for (const client of this.clients) await client.start();
  }

  reload(): void {
    this.server?.reload();
  }

  shutdown(): void {
    for (const client of this.clients) client.close();
    this.server?.shutdown();
  }
}
