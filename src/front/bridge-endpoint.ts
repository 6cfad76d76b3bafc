/*
 * The bridge as a WebSocket endpoint: an upgrade becomes a backend query and a peer connect
 * (core/bridge-opener.ts), answered 101 only once the peer is there (or, with early-upgrade,
 * once the peer is chosen, the connect finishing behind it); the socket's callbacks
 * then drive a Bridge, or, when the backend made the peer resumable and the client offered
 * `websocksy.session.v1`, a session (src/session/). The request is turned into the backend's
 * PeerQuery here, so that the core sees a query and a connection, never an HTTP request.
 */
import type { HttpResponse } from 'uWebSockets.js';
import type { Backend, PeerQuery } from '../core/api.js';
import { Bridge, type BridgeLimits, type BridgeStatus } from '../core/bridge.js';
import { BackendFailure, choosePeer, connectChosen, connectChosenAtOnce, openPeer, type BridgeOpenerOptions, type ChosenPeer, type OpenedPeer } from '../core/bridge-opener.js';
import { identityLabel, unobserved, type BridgeObserver } from '../core/bridge-observer.js';
import { ClientEndpoint, type ClientData } from '../core/client-endpoint.js';
import { ClientSet } from '../core/client-set.js';
import type { SocketLimits, UpgradeAnswer } from '../core/endpoint.js';
import { connectPeer, connectPeerAtOnce, PeerConnectError, type PeerConnection } from '../core/peer.js';
import { ConnectingPeer } from '../core/peer-connecting.js';
import { Refusal } from '../core/refusal.js';
import { addressFields, headerValue, offeredProtocols, type ClientRequest } from '../core/request.js';
import { LARGEST_PEER_READ, maxBackpressureFor } from '../core/send-policy.js';
import { ClientResponse } from '../http/client-response.js';
import type { Route } from '../http/route-table.js';
import type { PeerRouteEndpoint, PeerTarget } from '../http/routes.js';
import { errorMessage } from '../lib/errors.js';
import { log } from '../lib/log.js';
import { SESSION_SUBPROTOCOL } from '../session/records.js';
import { SessionSocket } from '../session/session-socket.js';
import type { SessionStore } from '../session/session-store.js';
import type { SessionDescription } from '../session/session.js';
import { logRefused } from './refused.js';

/** The status JSON lists this many connections at most (it is built on every request for it). */
export const STATUS_LIST_LIMIT = 1000;

/** A backend query for `request`; the session subprotocol is websocksy's, so backends never see it. */
export function peerQueryOf(request: ClientRequest, offered: readonly string[]): PeerQuery {
  return {
    endpoint: request.path + request.search,
    protocols: offered.filter((name) => name !== SESSION_SUBPROTOCOL),
    headers: request.headers,
    clientAddress: request.clientAddress,
    connectionId: request.id,
    ...(request.auth === undefined ? {} : { auth: request.auth }),
  };
}

/** The backend of a `peer = ADDRESS` route: every connection goes to that peer. */
export function routePeerBackend(route: Route, target: PeerTarget): Backend {
  const answer = { host: target.address, resumable: target.resumable, ...(target.proxyProtocol === null ? {} : { proxyProtocol: target.proxyProtocol }) };
  return { name: `route ${route.prefix}`, query: () => answer };
}

export class BridgeEndpoint extends ClientEndpoint implements PeerRouteEndpoint {
  readonly limits: SocketLimits;
  private readonly observer: BridgeObserver;

  /** `name` is `bridge`, or `route /prefix` for a peer route (whose clients share the bridge's set). */
  constructor(
    private readonly opener: BridgeOpenerOptions,
    private readonly bridgeLimits: BridgeLimits,
    private readonly sessions: SessionStore,
    readonly name = 'bridge',
    clients = new ClientSet(),
  ) {
    super(clients);
    this.observer = (opener.observers ?? unobserved).forEndpoint(name, opener.backend.name);
    this.limits = {
      // uWS drops a connection over its own limit without a close frame; websocksy checks
      // max-message itself to answer 1009, and keeps uWS's hard limit above it.
      maxPayloadLength: Math.min(2 ** 31 - 1, bridgeLimits.maxMessage * 2),
      // One read can complete a whole frame-limit's worth of waiting bytes after the pause.
      maxBackpressure: maxBackpressureFor(bridgeLimits.clientBuffer, bridgeLimits.frameLimit + LARGEST_PEER_READ),
    };
  }

  /** The bridged connections for the status JSON: the first STATUS_LIST_LIMIT, and how many there are. */
  status(): { readonly total: number; readonly list: BridgeStatus[] } {
    const list: BridgeStatus[] = [];
    let total = 0;
    for (const client of this.clients.values()) {
      if (!(client instanceof Bridge)) continue;
      total++;
      if (list.length < STATUS_LIST_LIMIT) list.push(client.status());
    }
    return { total, list };
  }

  /** Closes bridged connection `id` with `code` and `reason` (the status page's close); false when it is not one of these clients. */
  closeConnection(id: number, code: number, reason: string): boolean {
    for (const client of this.clients.values()) {
      if (client instanceof Bridge && client.description.id === id) {
        client.close(code, reason);
        return true;
      }
    }
    return false;
  }

  upgrade(request: ClientRequest, answer: UpgradeAnswer<ClientData>): void {
    void this.prepare(request, answer);
  }

  private async prepare(request: ClientRequest, answer: UpgradeAnswer<ClientData>): Promise<void> {
    const offered = offeredProtocols(request);
    const query = peerQueryOf(request, offered);
    const wantsSession = offered.includes(SESSION_SUBPROTOCOL);
    // The answer is settled once the client left or the handshake timed out.
    const cancelled = (): boolean => answer.settled;
    try {
      // Not awaited when the backend and the gate answer at once: an early upgrade then answers
      // inside uWS's upgrade handler, where the 101 leaves corked, in one send.
      const choosing = choosePeer(this.opener, query, cancelled);
      const chosen = choosing instanceof Promise ? await choosing : choosing;
      if (chosen === null) return;
      const session = wantsSession && chosen.resumable;
      // A session needs its peer before the 101 (its WELCOME names it): it never answers early.
      if (this.opener.earlyUpgrade === true && !session) {
        this.acceptEarly(request, answer, query, chosen);
        return;
      }
      // A peer on this host is connected within the call where the kernel allows: with a
      // backend that answered at once, the 101 then still leaves from uWS's handler, corked.
      const opened = connectChosenAtOnce(chosen) ?? (await connectChosen(this.opener, chosen, cancelled));
      if (opened === null) return;
      this.observer.peerConnected(opened.connectSeconds);
      if (session) this.acceptSession(request, answer, query, opened);
      else if (!answer.accept({ id: request.id, client: this.bridgeFor(request, query, opened, opened.peer) }, opened.protocol)) opened.peer.destroy();
    } catch (error) {
      if (error instanceof BackendFailure) this.observer.pluginFailed();
      if (error instanceof Refusal) answer.refuse(error);
      else {
        log.error('internal error', { id: request.id, where: 'bridge upgrade', error: errorMessage(error) });
        answer.refuse(new Refusal('internal', 500, 'Internal error', `bridge upgrade failed: ${errorMessage(error)}`));
      }
    }
  }

  /**
   * The 101 now, the peer connecting behind it (core option early-upgrade): a peer that fails
   * closes the WebSocket with 1014. A peer on this host connected within the call needs no
   * stand-in; one refused there fails its stand-in at once.
   */
  private acceptEarly(request: ClientRequest, answer: UpgradeAnswer<ClientData>, query: PeerQuery, chosen: ChosenPeer): void {
    const connectStart = performance.now();
    const atOnce = connectPeerAtOnce(chosen.address, chosen.proxy);
    let peer: PeerConnection;
    if (atOnce !== null && !(atOnce instanceof PeerConnectError)) {
      this.observer.peerConnected((performance.now() - connectStart) / 1000);
      peer = atOnce;
    } else {
      const connecting = atOnce === null ? connectPeer(chosen.address, this.opener.connectTimeoutMs, chosen.proxy) : Promise.reject(atOnce);
      peer = new ConnectingPeer(chosen.address, connecting, this.observer);
    }
    if (!answer.accept({ id: request.id, client: this.bridgeFor(request, query, chosen, peer) }, chosen.protocol)) peer.destroy();
  }

  /**
   * `POST <bridged path>` with `Websocksy-Session: open`: a session for a client whose upgrade
   * failed (docs/sessions.md "Opening a session"). The answer is the WELCOME's JSON; the client
   * then polls and posts at the session path.
   */
  openOverHttp(res: HttpResponse, request: ClientRequest): void {
    const response = ClientResponse.answering(res, request);
    if (request.hasBody) {
      response.refuse(new Refusal('bad-request', 400, 'A session is opened with an empty POST', 'session open with a body'));
      return;
    }
    void this.openSessionOverHttp(response, request);
  }

  private async openSessionOverHttp(response: ClientResponse, request: ClientRequest): Promise<void> {
    const offered = (headerValue(request, 'websocksy-protocol') ?? '').split(',').map((name) => name.trim()).filter((name) => name !== '');
    const query = peerQueryOf(request, offered);
    try {
      const full = this.sessions.full();
      if (full !== null) throw full;
      const opened = await openPeer(this.opener, query, () => !response.usable);
      if (opened === null) return;
      this.observer.peerConnected(opened.connectSeconds);
      if (!opened.resumable) {
        opened.peer.destroy();
        throw new Refusal('conflict', 409, 'This peer is not resumable: use a WebSocket', `session open over HTTP for ${query.endpoint}, whose peer is not resumable`);
      }
      const stillFull = this.sessions.full();
      if (stillFull !== null) {
        opened.peer.destroy();
        throw stillFull;
      }
      const opening = this.sessions.create(sessionDescription(request, query, opened), opened.peer);
      opening.session.openDetached();
      log.info('session open', { ...opening.session.logFields, ...addressFields(request), endpoint: query.endpoint, peer: opened.peer.address.text, transport: 'http' });
      const body = opening.welcome.subarray(1);
      response.ended = true;
      response.res.cork(() => response.res.writeStatus('200 OK').writeHeader('Content-Type', 'application/json').writeHeader('Cache-Control', 'no-store').end(body));
    } catch (error) {
      if (error instanceof BackendFailure) this.observer.pluginFailed();
      const refusal = error instanceof Refusal ? error : new Refusal('internal', 500, 'Internal error', `session open failed: ${errorMessage(error)}`);
      if (!(error instanceof Refusal)) log.error('internal error', { id: request.id, where: 'session open', error: errorMessage(error) });
      logRefused(request, refusal, query.endpoint);
      response.refuse(refusal);
    }
  }

  private bridgeFor(request: ClientRequest, query: PeerQuery, chosen: ChosenPeer, peer: PeerConnection): Bridge {
    const description = {
      id: request.id,
      clientAddress: request.clientAddress,
      remoteAddress: request.remoteAddress,
      forwardedFor: headerValue(request, 'x-forwarded-for'),
      endpoint: query.endpoint,
      protocol: chosen.protocol,
      framing: chosen.framing,
      framingConfig: chosen.framingConfig,
      ...(request.auth?.user == null ? {} : { user: request.auth.user }),
      identity: identityLabel(request.auth),
    };
    return new Bridge(description, peer, this.bridgeLimits, this.observer);
  }

  private acceptSession(request: ClientRequest, answer: UpgradeAnswer<ClientData>, query: PeerQuery, opened: OpenedPeer): void {
    const full = this.sessions.full();
    if (full !== null) {
      opened.peer.destroy();
      answer.refuse(full);
      return;
    }
    const opening = this.sessions.create(sessionDescription(request, query, opened), opened.peer);
    const socket = new SessionSocket(request.id, opening, this.sessions);
    if (!answer.accept({ id: request.id, client: socket }, SESSION_SUBPROTOCOL)) opening.session.cancel('the client left before the 101');
    else log.info('session open', { ...opening.session.logFields, ...addressFields(request), endpoint: query.endpoint, peer: opened.peer.address.text, transport: 'websocket' });
  }
}

export function sessionDescription(request: ClientRequest, query: PeerQuery, opened: OpenedPeer): SessionDescription {
  return {
    connectionId: request.id,
    clientAddress: request.clientAddress,
    remoteAddress: request.remoteAddress,
    endpoint: query.endpoint,
    protocol: opened.protocol,
    framing: opened.framing,
    framingConfig: opened.framingConfig,
  };
}
