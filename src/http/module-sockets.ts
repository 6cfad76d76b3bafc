/*
 * The WebSocket side of a route module (`websocket` in its default export): a WsEndpoint the
 * front registers on the prefix, like a websocket route's relay. The module accepts an upgrade
 * (choosing the subprotocol from those offered) or refuses it with a 4xx, then hears of each
 * socket's open, messages, drain and close. Each call runs behind the guard, so a throw or a
 * rejection closes that socket alone (1011).
 * Messages reach the module whole, copied (uWS reuses their memory after the callback).
 * The metrics count each socket as a connection of the endpoint `route /PREFIX` (backend
 * `module`), with the module as its peer. Its client is kept alive as the bridge's are
 * (module-socket-keep-alive.ts).
 */
import { STATUS_CODES } from 'node:http';
import type { WebSocket } from 'uWebSockets.js';
import { identityLabel, noCounts, type BridgeObserver, type BridgeObservers } from '../core/bridge-observer.js';
import type { ClientSet } from '../core/client-set.js';
import type { SocketLimits, UpgradeAnswer, WsEndpoint } from '../core/endpoint.js';
import type { RouteWebSocket } from '../core/route-api.js';
import { Refusal } from '../core/refusal.js';
import { addressFields, offeredProtocols, type ClientRequest } from '../core/request.js';
import { runGuarded, runGuardedAsync } from '../lib/guard.js';
import type { ModuleTarget } from './module-exchange.js';
import { requestHead } from './module-request.js';
import { ModuleSocket, socketLimits, type ModuleSocketData } from './module-socket.js';
import { ModuleSocketKeepAlive } from './module-socket-keep-alive.js';
import type { Route } from './route-table.js';

export class ModuleSockets implements WsEndpoint<ModuleSocketData> {
  readonly name: string;
  readonly limits: SocketLimits;
  /** Open sockets (for shutdown's 1001), each with its hold in the keep-alive sweep. */
  private readonly live = new Map<ModuleSocket, ModuleSocketKeepAlive>();
  private readonly observer: BridgeObserver;

  constructor(
    private readonly route: Route,
    private readonly target: ModuleTarget,
    private readonly handlers: RouteWebSocket,
    observers: BridgeObservers,
    private readonly keptAlive: ClientSet,
  ) {
    this.name = `route ${route.prefix}`;
    this.limits = socketLimits(target.maxMessage);
    this.observer = observers.forEndpoint(this.name, 'module');
  }

  upgrade(request: ClientRequest, answer: UpgradeAnswer<ModuleSocketData>): void {
    const head = requestHead(this.route, request);
    const offered = offeredProtocols(request);
    // Runs in the front's guard: a throw refuses this upgrade with 500.
    const decision: unknown = this.handlers.accept?.(head, offered) ?? null;
    if (typeof decision === 'number' && Number.isInteger(decision) && decision >= 400 && decision <= 499) {
      answer.refuse(new Refusal('module-refused', decision, STATUS_CODES[decision] ?? 'Refused', `the module refused the upgrade with ${decision}`));
      return;
    }
    // An async accept() is a fault too, and its promise must not end the process if it rejects.
    if (decision instanceof Promise) decision.catch(() => undefined);
    if (decision !== null && (typeof decision !== 'string' || !offered.includes(decision))) {
      throw new Error(`the module's accept answered ${String(decision)}: neither a subprotocol the client offered, null, nor a status from 400 to 499`);
    }
    const protocol = typeof decision === 'string' ? decision : '';
    const fields = { id: request.id, route: this.route.prefix, path: request.path, ...addressFields(request) };
    const counts = noCounts();
    const socket = new ModuleSocket(head, protocol, this.target.maxMessage, fields, counts, (flushed) => this.drained(flushed));
    answer.accept({ id: request.id, socket, counts, identity: identityLabel(request.auth) }, protocol);
  }

  open(ws: WebSocket<ModuleSocketData>): void {
    const { socket, counts, identity } = ws.getUserData();
    socket.attach(ws);
    const held = new ModuleSocketKeepAlive(socket, ws);
    this.live.set(socket, held);
    this.keptAlive.add(held);
    this.observer.opened(counts, identity);
    const { open } = this.handlers;
    if (open !== undefined) runGuardedAsync(socket, 'route module open', () => open(socket));
  }

  message(ws: WebSocket<ModuleSocketData>, message: ArrayBuffer, isBinary: boolean): void {
    const { socket, counts } = ws.getUserData();
    this.heard(socket);
    const handler = this.handlers.message;
    if (handler === undefined || socket.closed) return;
    counts.bytesToPeer += message.byteLength;
    counts.messagesToPeer++;
    const data = Buffer.copyBytesFrom(new Uint8Array(message));
    socket.whileReading(() => runGuardedAsync(socket, 'route module message', () => handler(socket, data, isBinary)));
  }

  drain(ws: WebSocket<ModuleSocketData>): void {
    this.drained(ws.getUserData().socket);
  }

  pong(ws: WebSocket<ModuleSocketData>): void {
    this.heard(ws.getUserData().socket);
  }

  private heard(socket: ModuleSocket): void {
    const held = this.live.get(socket);
    if (held !== undefined) held.heard = true;
  }

  /** uWS drained the socket, or its held sends went out (module-socket.ts): a module told to wait may send again. */
  private drained(socket: ModuleSocket): void {
    const handler = this.handlers.drain;
    if (socket.caughtUp() && handler !== undefined) runGuardedAsync(socket, 'route module drain', () => handler(socket));
  }

  close(ws: WebSocket<ModuleSocketData>, code: number, reason: ArrayBuffer): void {
    const { socket, counts } = ws.getUserData();
    socket.detach();
    const held = this.live.get(socket);
    if (held !== undefined) this.keptAlive.delete(held);
    this.live.delete(socket);
    this.observer.closed(counts, code);
    const handler = this.handlers.close;
    const text = Buffer.from(reason).toString('utf8');
    if (handler !== undefined) runGuardedAsync(socket, 'route module close', () => handler(socket, code, text));
  }

  ownerOf(ws: WebSocket<ModuleSocketData>): ModuleSocket {
    return ws.getUserData().socket;
  }

  /** Shutdown: every open socket gets `code` (its close handler runs as uWS closes it). */
  closeAll(code: number, reason: string): void {
    for (const socket of [...this.live.keys()]) runGuarded(socket, 'shutdown', () => socket.close(code, reason));
  }
}
