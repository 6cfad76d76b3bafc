/*
 * A listener of its own for routes or for the status, beside the main one: west configs may
 * put proxies and the control port on other addresses than the tunnel server. Only HTTP: an
 * upgrade that no websocket route claims gets 404 here (the bridge lives on the main port).
 */
import uws from 'uWebSockets.js';
import type { TemplatedApp, us_listen_socket } from 'uWebSockets.js';
import { listenApp } from '../core/listen-app.js';
import { statusRoute } from '../tunnel/status.js';
import { ClientResponse } from './client-response.js';
import type { HttpRoutes } from './routes.js';

export class RouteServer {
  private readonly app: TemplatedApp = uws.App();
  private socket: us_listen_socket | null = null;

  /** Serves `routes`, or answers every GET with `status()` as JSON. */
  constructor(what: { readonly routes: HttpRoutes } | { readonly status: () => object }) {
    if ('status' in what) {
      statusRoute('/*', what.status)(this.app);
      return;
    }
    const { routes } = what;
    for (const register of routes.registrations) register(this.app);
    this.app.any('/*', (res, req) => {
      if (!routes.fallback(res, req)) new ClientResponse(res).fail('404 Not Found', 'Not found', {}, true);
    });
  }

  async listen(host: string, port: number): Promise<number> {
    const socket = await listenApp(this.app, host, port);
    this.socket = socket;
    return uws.us_socket_local_port(socket);
  }

  close(): void {
    if (this.socket !== null) uws.us_listen_socket_close(this.socket);
    this.socket = null;
  }
}
