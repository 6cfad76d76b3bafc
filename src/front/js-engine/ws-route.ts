/*
 * One WebSocket route (uWS's `app.ws(pattern, behaviour)`): a `ws` server without a server of
 * its own (noServer, per-message deflate off, the route's maxPayloadLength) that completes the
 * upgrades websocksy accepts. The route object is what uWS calls the socket context, which
 * websocksy hands back to res.upgrade(). `ws` answers the 101 and the open handler runs before
 * res.upgrade() returns, as in uWS.
 */
import type { IncomingMessage } from 'node:http';
import { WebSocketServer } from 'ws';
import type { JsHttpRequest } from './http-request.js';
import type { JsHttpResponse, UpgradeSource, UpgradeTarget } from './http-response.js';
import { PeerCloseWebSocket } from './peer-close.js';
import { JsWebSocket, type SocketHandlers } from './websocket.js';

export interface RouteBehaviour<D> extends Omit<SocketHandlers<D>, 'maxBackpressure'> {
  readonly maxPayloadLength?: number;
  readonly maxBackpressure?: number;
  readonly idleTimeout?: number;
  /** Decides the upgrade: res.upgrade(..., context) accepts it, anything else refuses it. */
  readonly upgrade?: (res: JsHttpResponse, req: JsHttpRequest, context: UpgradeTarget) => void;
}

/** uWS's defaults: 16 KiB messages, 64 KiB of backpressure. */
const DEFAULT_MAX_PAYLOAD = 16 * 1024;
const DEFAULT_MAX_BACKPRESSURE = 64 * 1024;

export class WsRoute<D> implements UpgradeTarget {
  private readonly server: WebSocketServer;
  private readonly handlers: SocketHandlers<D>;

  constructor(readonly behaviour: RouteBehaviour<D>) {
    this.handlers = { ...behaviour, maxBackpressure: behaviour.maxBackpressure ?? DEFAULT_MAX_BACKPRESSURE };
    this.server = new WebSocketServer({
      noServer: true,
      perMessageDeflate: false,
      clientTracking: false,
      WebSocket: PeerCloseWebSocket,
      maxPayload: behaviour.maxPayloadLength ?? DEFAULT_MAX_PAYLOAD,
    });
  }

  accept(message: IncomingMessage, source: UpgradeSource, userData: object, protocol: string, remote: ArrayBuffer): void {
    // websocksy read the client's offer and chose (front/handshake.ts); `ws` answers with the
    // first protocol offered and refuses offers it finds malformed (a duplicate), so it is shown
    // only the choice.
    if (protocol === '') delete message.headers['sec-websocket-protocol'];
    else message.headers['sec-websocket-protocol'] = protocol;
    this.server.handleUpgrade(message, source.socket, source.head, (socket) => {
      const ws = new JsWebSocket<D>(socket, source.socket, userData as D, this.handlers, remote);
      this.handlers.open?.(ws);
    });
  }
}
