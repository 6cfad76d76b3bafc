/*
 * A `[route /prefix] module = FILE` route: the loaded module, its lifecycle and what serves its
 * prefix. init(module-config) runs once before websocksy listens (its failure stops start-up,
 * naming the file); at shutdown the module's sockets get 1001 and then its close() runs, guarded
 * and bounded in time: a throw or a hang is logged, and shutdown goes on.
 */
import type { HttpResponse } from 'uWebSockets.js';
import { WsCloseCode } from '../core/api.js';
import type { BridgeObservers } from '../core/bridge-observer.js';
import type { ClientSet } from '../core/client-set.js';
import { PluginError } from '../core/plugin-error.js';
import type { ClientRequest } from '../core/request.js';
import type { RouteModule } from '../core/route-api.js';
import { errorMessage } from '../lib/errors.js';
import { noteFault, type Guarded } from '../lib/guard.js';
import { log } from '../lib/log.js';
import { serveModuleRequest, type ModuleTarget } from './module-exchange.js';
import { ModuleSockets } from './module-sockets.js';
import type { Route } from './route-table.js';

/** How long shutdown waits for a module's close(). */
const CLOSE_WAIT_MS = 5000;

export class ModuleRoute {
  /** The module's WebSocket endpoint, or null when it takes no upgrades. */
  readonly sockets: ModuleSockets | null;
  private readonly owner: Guarded;

  constructor(
    private readonly route: Route,
    private readonly target: ModuleTarget,
    private readonly module: RouteModule,
    observers: BridgeObservers,
    keptAlive: ClientSet,
  ) {
    this.sockets = module.websocket === undefined ? null : new ModuleSockets(route, target, module.websocket, observers, keptAlive);
    // Lifecycle calls belong to no connection: a fault is logged, and there is nothing to close.
    this.owner = { logFields: { route: route.prefix, file: target.file }, abortAfterFault: () => undefined };
  }

  /** True when the module serves plain requests; without, they get 426 as on a websocket route. */
  get takesRequests(): boolean {
    return this.module.request !== undefined;
  }

  async init(): Promise<void> {
    try {
      await this.module.init?.(this.target.config);
    } catch (error) {
      throw new PluginError(this.target.file, `init failed: ${errorMessage(error)}`);
    }
    log.info('route module ready', { route: this.route.prefix, file: this.target.file });
  }

  /** Serves a plain request (takesRequests); call from the uWS handler itself. */
  serve(res: HttpResponse, request: ClientRequest): void {
    const handler = this.module.request;
    if (handler === undefined) throw new Error(`route ${this.route.prefix} takes no plain requests`);
    serveModuleRequest(res, request, this.route, this.target, handler);
  }

  async close(): Promise<void> {
    this.sockets?.closeAll(WsCloseCode.shutdown, 'Shutting down');
    const close = this.module.close;
    if (close === undefined) return;
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<'timed out'>((resolve) => (timer = setTimeout(() => resolve('timed out'), CLOSE_WAIT_MS)));
    try {
      if ((await Promise.race([(async () => close())(), timedOut])) === 'timed out') {
        log.warn('route module close timed out', { ...this.owner.logFields, ms: CLOSE_WAIT_MS });
      }
    } catch (error) {
      noteFault(this.owner, 'route module close', error);
    } finally {
      clearTimeout(timer);
    }
  }
}
