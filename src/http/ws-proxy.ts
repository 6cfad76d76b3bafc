/*
 * A `websocket = ws://…` route: each upgrade on the prefix opens a WebSocket to the remote URL
 * first (so an unreachable one gets a 502 answer, not an accepted-then-closed socket), then
 * accepts the client and relays messages both ways, text as text and binary as binary, and
 * the close codes. Backpressure: a client that reads slowly pauses the upstream socket until
 * uWS drains; an upstream that reads slowly cannot pause the client (uWS 20.30 has no
 * ws.pause()), so past a high-water mark the client is closed with 1013, as the bridge does.
 */
import WebSocket from 'ws';
import uws from 'uWebSockets.js';
import type { WebSocket as UwsWebSocket, WebSocketBehavior } from 'uWebSockets.js';
import { errorMessage } from '../core/errors.js';
import { parseProtocols } from '../core/listener.js';
import { log } from '../core/log.js';
import { ClientResponse } from './client-response.js';
import { upstreamRequestHeaders } from './headers.js';
import { readClientRequest, upstreamPath } from './proxy-http.js';
import type { Route } from './route-table.js';

/** Messages are relayed whole; larger ones close the connection (1009). */
const MAX_MESSAGE = 16 * 1024 * 1024;
/** Unsent bytes allowed on either side before the relay pauses (client) or gives up (upstream). */
const HIGH_WATER = 4 * 1024 * 1024;

interface RelayData {
  readonly upstream: WebSocket;
  /** Messages from upstream that arrived before uWS opened the client side. */
  readonly early: Array<{ data: Buffer; binary: boolean }>;
  closed: boolean;
}

/** Codes a close frame may carry (RFC 6455 §7.4); others (1005, 1006, 1015) are only reported. */
function sendableCode(code: number): boolean {
  return (code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1014) || (code >= 3000 && code <= 4999);
}

export function webSocketRoute(route: Route, base: URL): WebSocketBehavior<RelayData> {
  return {
    compression: uws.DISABLED,
    maxPayloadLength: MAX_MESSAGE,
    maxBackpressure: HIGH_WATER * 2,
    idleTimeout: 0,
    upgrade: (res, req, context) => {
      const client = readClientRequest(res, req);
      const key = req.getHeader('sec-websocket-key');
      const answer = new ClientResponse(res);
      const target = new URL(upstreamPath(route, base, client), base);
      const fields = { route: route.prefix, path: client.path, upstream: base.origin, client: client.clientAddress };
      const forwarded = upstreamRequestHeaders(
        client.headers.filter(([name]) => !name.startsWith('sec-websocket-')),
        { clientAddress: client.clientAddress, proto: 'http', host: route.host === 'keep' ? 'keep' : base.host },
      );
      const upstream = new WebSocket(target, parseProtocols(req.getHeader('sec-websocket-protocol')), {
        headers: forwarded as Record<string, string>,
        perMessageDeflate: false,
        handshakeTimeout: route.timeoutMs,
        maxPayload: MAX_MESSAGE,
      });
      const early: RelayData['early'] = [];
      answer.whenAborted(() => upstream.terminate());
      upstream.on('message', (data: Buffer, binary: boolean) => early.push({ data, binary }));
      upstream.once('open', () => {
        if (!answer.usable) return;
        answer.ended = true;
        res.cork(() => res.upgrade<RelayData>({ upstream, early, closed: false }, key, upstream.protocol, '', context));
      });
      const refuse = (why: string): void => {
        if (!answer.usable) return;
        const timedOut = /timed out/i.test(why);
        log.warn('websocket upstream failed', { ...fields, status: timedOut ? 504 : 502, why });
        // A refused handshake ends the connection, as the bridge's refusals do.
        if (timedOut) answer.fail('504 Gateway Timeout', 'Gateway timeout', {}, true);
        else answer.fail('502 Bad Gateway', 'Bad gateway', {}, true);
      };
      upstream.on('unexpected-response', (_request, response) => {
        refuse(`upstream answered HTTP ${response.statusCode ?? 0}`);
        upstream.terminate();
      });
      upstream.on('error', (error: Error) => refuse(errorMessage(error)));
    },
    open: (ws: UwsWebSocket<RelayData>) => {
      const data = ws.getUserData();
      const { upstream } = data;
      upstream.removeAllListeners('message');
      const toClient = (message: Buffer, binary: boolean): void => {
        if (data.closed) return;
        ws.send(message, binary);
        if (ws.getBufferedAmount() > HIGH_WATER) upstream.pause();
      };
      for (const { data: message, binary } of data.early.splice(0)) toClient(message, binary);
      upstream.on('message', toClient);
      upstream.on('close', (code: number, reason: Buffer) => {
        if (data.closed) return;
        data.closed = true;
        if (sendableCode(code)) ws.end(code, reason);
        else ws.end(1000);
      });
    },
    message: (ws, message, binary) => {
      const { upstream } = ws.getUserData();
      // uWS reuses the message's memory after this call: copy it.
      upstream.send(Buffer.from(new Uint8Array(message)), { binary });
      if (upstream.bufferedAmount > HIGH_WATER) {
        log.warn('websocket relay closed', { why: 'upstream reads too slowly', buffered: upstream.bufferedAmount });
        ws.getUserData().closed = true;
        ws.end(1013, 'Upstream too slow');
        upstream.terminate();
      }
    },
    drain: (ws) => ws.getUserData().upstream.resume(),
    close: (ws, code, message) => {
      const data = ws.getUserData();
      data.closed = true;
      if (data.upstream.readyState !== WebSocket.OPEN) return;
      if (sendableCode(code)) data.upstream.close(code, Buffer.from(message));
      else data.upstream.close();
    },
  };
}
