/*
 * The keep-alive sweep's hold on a route module's socket (core/client-set.ts): the sweep pings
 * the client on the uWS socket itself, and closes or cuts through the ModuleSocket, so that
 * the module's close handler runs as for any other end. The module's own API (RouteSocket)
 * gains nothing: pings are websocksy's business.
 */
import type { WebSocket } from 'uWebSockets.js';
import type { KeptAlive } from '../core/client-set.js';
import { log, type LogFields } from '../lib/log.js';
import { ABNORMAL_CLOSURE } from '../lib/websocket-client.js';
import type { ModuleSocket, ModuleSocketData } from './module-socket.js';

export class ModuleSocketKeepAlive implements KeptAlive {
  /** Heard from the client since the last ping (a new socket counts as heard). */
  heard = true;

  constructor(
    private readonly socket: ModuleSocket,
    private readonly ws: WebSocket<ModuleSocketData>,
  ) {}

  get logFields(): LogFields {
    return this.socket.logFields;
  }

  abortAfterFault(): void {
    this.socket.abortAfterFault();
  }

  ping(): void {
    this.ws.ping('PING');
  }

  terminate(reason: string): void {
    if (this.socket.closed) return;
    log.info('route module socket closed', { ...this.socket.logFields, code: ABNORMAL_CLOSURE, why: reason });
    this.socket.terminate();
  }

  close(code: number, reason: string): void {
    this.socket.close(code, reason);
  }
}
