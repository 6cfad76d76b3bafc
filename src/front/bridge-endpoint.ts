/*
 * The bridge as a WebSocket endpoint: an upgrade becomes a backend query and a peer connect
 * (core/bridge-opener.ts), answered 101 only once the peer is there; the socket's callbacks
 * then drive the Bridge. The request is turned into the backend's PeerQuery here, so that the
 * core sees a query and a connection, never an HTTP request.
 */
import type { WebSocket } from 'uWebSockets.js';
import type { PeerQuery } from '../core/api.js';
import { Bridge, type BridgeLimits } from '../core/bridge.js';
import { openPeer, type BridgeOpenerOptions } from '../core/bridge-opener.js';
import { BridgeSet } from '../core/bridges.js';
import type { SocketData, SocketLimits, UpgradeAnswer, WsEndpoint } from '../core/endpoint.js';
import { Refusal } from '../core/refusal.js';
import { headerValue, offeredProtocols, type ClientRequest } from '../core/request.js';
import { maxBackpressureFor } from '../core/send-policy.js';
import { errorMessage } from '../lib/errors.js';
import type { Guarded } from '../lib/guard.js';
import { log } from '../lib/log.js';

export interface BridgeData extends SocketData {
  readonly bridge: Bridge;
}

/** Largest peer read (peer-stream.ts READ_BUFFER); datagrams are at most 64 KiB too. */
const LARGEST_READ = 64 * 1024;

export class BridgeEndpoint implements WsEndpoint<BridgeData> {
  readonly name = 'bridge';
  readonly limits: SocketLimits;
  readonly bridges = new BridgeSet();
  /**
   * Made once, not in prepare(): a closure made there would share prepare's scope, and through
   * it keep the request, its headers and the pending upgrade alive as long as the bridge.
   */
  private readonly bridgeFinished = (bridge: Bridge): void => this.bridges.delete(bridge);

  constructor(
    private readonly opener: BridgeOpenerOptions,
    private readonly bridgeLimits: BridgeLimits,
  ) {
    this.limits = {
      // uWS drops a connection over its own limit without a close frame; websocksy checks
      // max-message itself to answer 1009, and keeps uWS's hard limit above it.
      maxPayloadLength: Math.min(2 ** 31 - 1, bridgeLimits.maxMessage * 2),
      // One read can complete a whole frame-limit's worth of waiting bytes after the pause.
      maxBackpressure: maxBackpressureFor(bridgeLimits.clientBuffer, bridgeLimits.frameLimit + LARGEST_READ),
    };
  }

  upgrade(request: ClientRequest, answer: UpgradeAnswer<BridgeData>): void {
    void this.prepare(request, answer);
  }

  private async prepare(request: ClientRequest, answer: UpgradeAnswer<BridgeData>): Promise<void> {
    let cancelled = false;
    answer.onCancel(() => {
      cancelled = true;
    });
    const query: PeerQuery = {
      endpoint: request.path + request.search,
      protocols: offeredProtocols(request),
      headers: request.headers,
      clientAddress: request.clientAddress,
      connectionId: request.id,
    };
    try {
      const opened = await openPeer(this.opener, query, () => cancelled || answer.settled);
      if (opened === null) return;
      const bridge = new Bridge(
        {
          id: request.id,
          clientAddress: request.clientAddress,
          forwardedFor: headerValue(request, 'x-forwarded-for'),
          endpoint: query.endpoint,
          protocol: opened.protocol,
          framing: opened.framing,
          framingConfig: opened.framingConfig,
        },
        opened.peer,
        this.bridgeLimits,
        this.bridgeFinished,
      );
      if (!answer.accept({ id: request.id, bridge }, opened.protocol)) opened.peer.destroy();
    } catch (error) {
      if (error instanceof Refusal) answer.refuse(error);
      else {
        log.error('internal error', { id: request.id, where: 'bridge upgrade', error: errorMessage(error) });
        answer.refuse(new Refusal(500, 'Internal error', `bridge upgrade failed: ${errorMessage(error)}`));
      }
    }
  }

  open(ws: WebSocket<BridgeData>): void {
    const { bridge } = ws.getUserData();
    this.bridges.add(bridge);
    bridge.open(ws);
  }

  message(ws: WebSocket<BridgeData>, message: ArrayBuffer): void {
    ws.getUserData().bridge.onClientMessage(message);
  }

  drain(ws: WebSocket<BridgeData>): void {
    ws.getUserData().bridge.onClientDrain();
  }

  pong(ws: WebSocket<BridgeData>): void {
    ws.getUserData().bridge.heard = true;
  }

  close(ws: WebSocket<BridgeData>, code: number, reason: ArrayBuffer): void {
    ws.getUserData().bridge.onClientClosed(code, reason);
  }

  ownerOf(ws: WebSocket<BridgeData>, socketClosed: boolean): Guarded {
    const { bridge } = ws.getUserData();
    return socketClosed ? { logFields: bridge.logFields, abortAfterFault: () => bridge.abandon() } : bridge;
  }
}
