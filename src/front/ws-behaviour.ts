/*
 * The uWS WebSocket behaviour of one path pattern, every callback behind the guard: a throw in
 * the endpoint's code closes that one socket (1011), logged with its connection id. Each socket
 * keeps the endpoint that accepted it, and every callback goes to that one: after a reload
 * (front/app.ts) the pattern's upgrades go to the new configuration's endpoint while the sockets
 * opened before keep the old one. The endpoint is kept on the socket under a symbol of the
 * front's, not in the data the endpoint gave it, which stays the endpoint's own. uWS's own idle
 * timeout and compression are off: endpoints keep their sockets alive themselves, and nothing
 * websocksy carries gains from per-message deflate. The socket's admission ticket (the front
 * adds it at the 101) is stamped with every message from the client, for the idle timeout, and
 * released in the close handler, the one place every WebSocket ends. Endpoints hear of a drain
 * just after the I/O event uWS reports it from (`drained` says why).
 */
import type { HttpRequest, HttpResponse, us_socket_context_t, WebSocket, WebSocketBehavior } from 'uWebSockets.js';
import { idleClock } from '../core/admission.js';
import { WsCloseCode } from '../core/api.js';
import type { SocketData, SocketLimits, WsEndpoint } from '../core/endpoint.js';
import { reportFault, type Guarded } from '../lib/guard.js';
import { log } from '../lib/log.js';
import { engine } from './engine.js';

/**
 * What the front keeps on each socket (uWS.js's socket is a plain object, its user data's
 * properties copied onto it), under symbols no endpoint's data can spell. Not in a WeakMap and
 * a WeakSet: their writes at each open and close (write barrier, ephemeron tables) cost a
 * bridged connection ~2 µs of its ~245 (bench/README.md "The connection path's own objects").
 */
const SERVED_BY = Symbol('websocksy.servedBy');
/**
 * Set once the socket's close handler has run. uWS calls it synchronously from end() and
 * close(), after which any use of the socket throws; this is how the guard knows not to close
 * one twice.
 */
const CLOSED = Symbol('websocksy.closed');

type FrontSocket = WebSocket<SocketData> & { [SERVED_BY]?: WsEndpoint<SocketData>; [CLOSED]?: true };

function isClosed(ws: WebSocket<SocketData>): boolean {
  return (ws as FrontSocket)[CLOSED] === true;
}

/** The endpoint's own owner (a bridge, a relay) is closed first; the socket, if still open, then gets 1011. */
function ownerOf<D extends SocketData>(endpoint: WsEndpoint<D>, ws: WebSocket<D>): Guarded {
  const inner = endpoint.ownerOf?.(ws, isClosed(ws)) ?? null;
  return {
    logFields: inner?.logFields ?? { id: ws.getUserData().id, endpoint: endpoint.name },
    abortAfterFault: (reason) => {
      inner?.abortAfterFault(reason);
      if (!isClosed(ws)) ws.end(WsCloseCode.unexpected, 'Internal error');
    },
  };
}

export type UpgradeHandler = (res: HttpResponse, req: HttpRequest, context: us_socket_context_t) => void;

/**
 * Open sockets per endpoint: a reload's previous configuration is done once its endpoints have
 * none. An endpoint leaves the map with its last socket, so a retired one is not held.
 */
const openSockets = new Map<WsEndpoint<SocketData>, number>();

/** How many sockets `endpoint` serves now. */
export function socketsOpenOn(endpoint: WsEndpoint<SocketData>): number {
  return openSockets.get(endpoint) ?? 0;
}

function countSocket(endpoint: WsEndpoint<SocketData>, change: 1 | -1): void {
  const open = socketsOpenOn(endpoint) + change;
  if (open > 0) openSockets.set(endpoint, open);
  else openSockets.delete(endpoint);
}

/** The endpoint whose upgrade uWS is making: it runs the open handler inside res.upgrade(). */
let upgrading: WsEndpoint<SocketData> | null = null;

/**
 * Sockets uWS found drained in this loop turn, whose endpoints hear of it once the turn's I/O
 * events are done. uWS calls drain from inside the socket's writable event, and a send of
 * 16 KiB or more made there on a socket with nothing queued goes out through uSockets'
 * two-part write, which on a short write queues the rest but does not flag the write as failed:
 * when the event returns, uSockets stops polling the socket for writable and the rest waits
 * until something else is sent on it (bun's uSockets, PR #38177, describes the same). A
 * resume's replay stalled for good that way, a few bytes short of its last record, and a
 * route module sending from its drain handler could too. One setImmediate serves the turn's
 * drains; a socket that closed in between is skipped.
 */
const drained = new Set<WebSocket<SocketData>>();
let drainsScheduled = false;

function runDrains(): void {
  drainsScheduled = false;
  for (const ws of drained) {
    drained.delete(ws);
    const endpoint = (ws as FrontSocket)[SERVED_BY];
    if (endpoint === undefined || isClosed(ws)) continue;
    try {
      endpoint.drain(ws);
    } catch (error) {
      reportFault(ownerOf(endpoint, ws), 'drain', error);
    }
  }
}

function drainAfterThisTurn(ws: WebSocket<SocketData>): void {
  drained.add(ws);
  if (drainsScheduled) return;
  drainsScheduled = true;
  setImmediate(runDrains);
}

/** Runs `upgrade` (a res.upgrade() call), whose socket `endpoint` then serves. */
export function upgradeInto(endpoint: WsEndpoint<SocketData>, upgrade: () => void): void {
  upgrading = endpoint;
  try {
    upgrade();
  } finally {
    upgrading = null;
  }
}

/** uWS's limits for every socket of a pattern are fixed when it is registered: an endpoint may serve it only with the same ones. */
export function sameLimits(a: SocketLimits, b: SocketLimits): boolean {
  return a.maxPayloadLength === b.maxPayloadLength && a.maxBackpressure === b.maxBackpressure;
}

export function socketBehaviour(limits: SocketLimits, upgrade: UpgradeHandler): WebSocketBehavior<SocketData> {
  return {
    compression: engine().uws.DISABLED,
    idleTimeout: 0,
    maxPayloadLength: limits.maxPayloadLength,
    maxBackpressure: limits.maxBackpressure,
    upgrade,
    open: (ws) => {
      const { ticket, id } = ws.getUserData();
      const endpoint = upgrading;
      if (endpoint === null) {
        // Every upgrade goes through upgradeInto; a socket opened any other way has no one to serve it.
        log.error('socket opened outside an upgrade', { id });
        ws.end(WsCloseCode.unexpected, 'Internal error');
        return;
      }
      (ws as FrontSocket)[SERVED_BY] = endpoint;
      countSocket(endpoint, 1);
      // The endpoint's own owner (a bridge) may take this over in its open handler.
      if (ticket !== undefined) ticket.closer = { close: (code, reason) => ws.end(code, reason) };
      try {
        endpoint.open(ws);
      } catch (error) {
        reportFault(ownerOf(endpoint, ws), 'open', error);
      }
    },
    message: (ws, message, isBinary) => {
      const { ticket } = ws.getUserData();
      const endpoint = (ws as FrontSocket)[SERVED_BY];
      if (endpoint === undefined) return;
      if (ticket !== undefined) ticket.lastActive = idleClock.now;
      try {
        endpoint.message(ws, message, isBinary);
      } catch (error) {
        reportFault(ownerOf(endpoint, ws), 'message', error);
      }
    },
    drain: drainAfterThisTurn,
    pong: (ws) => {
      const endpoint = (ws as FrontSocket)[SERVED_BY];
      if (endpoint === undefined) return;
      try {
        endpoint.pong?.(ws);
      } catch (error) {
        reportFault(ownerOf(endpoint, ws), 'pong', error);
      }
    },
    close: (ws, code, reason) => {
      (ws as FrontSocket)[CLOSED] = true;
      const { ticket } = ws.getUserData();
      ticket?.release();
      const endpoint = (ws as FrontSocket)[SERVED_BY];
      if (endpoint === undefined) return;
      countSocket(endpoint, -1);
      try {
        endpoint.close(ws, code, reason);
      } catch (error) {
        reportFault(ownerOf(endpoint, ws), 'close', error);
      }
    },
  };
}
