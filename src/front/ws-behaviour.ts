/*
 * A WsEndpoint as a uWS WebSocket behaviour, every callback behind the guard: a throw in the
 * endpoint's code closes that one socket (1011), logged with its connection id. uWS's own idle
 * timeout and compression are off: endpoints keep their sockets alive themselves, and nothing
 * websocksy carries gains from per-message deflate. The socket's admission ticket (the front
 * adds it at the 101) is stamped with every message from the client, for the idle timeout, and
 * released in the close handler, the one place every WebSocket ends.
 */
import type { HttpRequest, HttpResponse, us_socket_context_t, WebSocket, WebSocketBehavior } from 'uWebSockets.js';
import { idleClock } from '../core/admission.js';
import { WsCloseCode } from '../core/api.js';
import type { SocketData, WsEndpoint } from '../core/endpoint.js';
import { reportFault, type Guarded } from '../lib/guard.js';
import { engine } from './engine.js';

/**
 * Sockets whose close handler has run. uWS calls it synchronously from end() and close(), after
 * which any use of the socket throws; this is how the guard knows not to close one twice.
 */
const closedSockets = new WeakSet<object>();

/** The endpoint's own owner (a bridge, a relay) is closed first; the socket, if still open, then gets 1011. */
function ownerOf<D extends SocketData>(endpoint: WsEndpoint<D>, ws: WebSocket<D>): Guarded {
  const inner = endpoint.ownerOf?.(ws, closedSockets.has(ws)) ?? null;
  return {
    logFields: inner?.logFields ?? { id: ws.getUserData().id, endpoint: endpoint.name },
    abortAfterFault: (reason) => {
      inner?.abortAfterFault(reason);
      if (!closedSockets.has(ws)) ws.end(WsCloseCode.unexpected, 'Internal error');
    },
  };
}

export type UpgradeHandler = (res: HttpResponse, req: HttpRequest, context: us_socket_context_t) => void;

export function endpointBehaviour<D extends SocketData>(endpoint: WsEndpoint<D>, upgrade: UpgradeHandler): WebSocketBehavior<D> {
  return {
    compression: engine().uws.DISABLED,
    idleTimeout: 0,
    maxPayloadLength: endpoint.limits.maxPayloadLength,
    maxBackpressure: endpoint.limits.maxBackpressure,
    upgrade,
    open: (ws) => {
      const { ticket } = ws.getUserData();
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
      if (ticket !== undefined) ticket.lastActive = idleClock.now;
      try {
        endpoint.message(ws, message, isBinary);
      } catch (error) {
        reportFault(ownerOf(endpoint, ws), 'message', error);
      }
    },
    drain: (ws) => {
      try {
        endpoint.drain(ws);
      } catch (error) {
        reportFault(ownerOf(endpoint, ws), 'drain', error);
      }
    },
    pong: (ws) => {
      try {
        endpoint.pong?.(ws);
      } catch (error) {
        reportFault(ownerOf(endpoint, ws), 'pong', error);
      }
    },
    close: (ws, code, reason) => {
      closedSockets.add(ws);
      ws.getUserData().ticket?.release();
      try {
        endpoint.close(ws, code, reason);
      } catch (error) {
        reportFault(ownerOf(endpoint, ws), 'close', error);
      }
    },
  };
}
