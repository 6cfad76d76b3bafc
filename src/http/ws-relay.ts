/*
 * A `websocket = ws://…` route: each upgrade on the prefix opens a WebSocket to the remote URL
 * first (so an unreachable one gets a 502 answer, not an accepted-then-closed socket, and one
 * whose name resolves outside the route's allow a 403), then
 * accepts the client and relays messages both ways, text as text and binary as binary, and
 * the close codes. Backpressure follows the one policy (core/send-policy.ts): a client that
 * reads slowly pauses the upstream until uWS drains; an upstream that reads slowly cannot
 * pause the client (uWS 20.30 has no ws.pause()), so past the high-water mark the client is
 * closed with 1013. Nothing is dropped silently. The upstream connection is websocksy's own
 * client (lib/websocket-client.ts), which copies nothing per message beyond the masking, and
 * every callback of it runs behind the guard.
 * The metrics count each relay as a connection of the endpoint `route /PREFIX` (backend
 * `websocket`): its open and close, bytes and messages each way, and the upstream's connect time.
 * The client is kept alive as the bridge's are (core/client-set.ts): pinged every `ping`, and
 * cut, its upstream closed, when it stops answering. The upstream's pings are answered by
 * websocksy's client and never reach the client, so without its own a dead client would hold
 * both connections for good.
 */
import type { LookupFunction } from 'node:net';
import { idleClock, type AdmissionTicket } from '../core/admission.js';
import type { WebSocket as UwsWebSocket } from 'uWebSockets.js';
import { WsCloseCode } from '../core/api.js';
import { identityLabel, type BridgeCounts, type BridgeObserver, type BridgeObservers } from '../core/bridge-observer.js';
import type { ClientSet, KeptAlive } from '../core/client-set.js';
import type { SocketData, SocketLimits, UpgradeAnswer, WsEndpoint } from '../core/endpoint.js';
import { hostLimitRefusal, Refusal } from '../core/refusal.js';
import { addressFields, offeredProtocols, type ClientRequest } from '../core/request.js';
import { aboveHighWater, drainedBelowLowWater, maxBackpressureFor, notReading, overflowed, SendOverflowError, sendMessage, type CloseDecision } from '../core/send-policy.js';
import { DestinationDenied, type DestinationAllowList } from '../lib/destination-allow.js';
import { errorCode, isHostLimit } from '../lib/errors.js';
import type { Guarded } from '../lib/guard.js';
import { log, type LogFields } from '../lib/log.js';
import type { ProxyVersion } from '../lib/proxy-header.js';
import type { UpstreamTls } from '../lib/tls-upstream.js';
import { sendableCloseCode } from '../lib/close-code.js';
import { closeReason } from '../lib/text.js';
import { ABNORMAL_CLOSURE, DROPPED, NO_STATUS, WebSocketClient, type WebSocketClientEvents, type WebSocketClientOptions, type WebSocketEnd } from '../lib/websocket-client.js';
import { portOf } from '../lib/url.js';
import { upstreamRequestHeaders } from './forward-headers.js';
import { proxyHeaderConnection } from './proxy-header-connection.js';
import type { Route } from './route-table.js';
import { upstreamUrl } from './upstream-path.js';

/** Messages are relayed whole; larger ones close the connection (1009). */
const MAX_MESSAGE = 16 * 1024 * 1024;
/** Unsent bytes allowed toward either side before the relay pauses (toward the client) or gives up (toward the upstream). */
const HIGH_WATER = 4 * 1024 * 1024;
/** What may wait to go to either side: uWS's bound toward the client, the upstream client's toward the upstream. */
const SEND_BOUND = maxBackpressureFor(HIGH_WATER, MAX_MESSAGE);

interface RelayData extends SocketData {
  readonly relay: Relay;
}

/** Before its 101: how the client's upgrade is answered once the upstream's is known. */
interface Pending {
  readonly answer: UpgradeAnswer<RelayData>;
  readonly started: number;
}

/**
 * One client ⇄ upstream pair, from the upstream's connect on; "peer" in its counts is the
 * upstream. It is the upstream connection's event handler: until the client's 101 its events
 * answer the client's upgrade, after it they relay.
 */
class Relay implements KeptAlive, BridgeCounts, WebSocketClientEvents {
  readonly upstream: WebSocketClient;
  private pending: Pending | null;
  private client: UwsWebSocket<RelayData> | null = null;
  /** Upstream messages that came between the 101 and uWS's open (copied: they are views). */
  private early: Array<{ readonly data: Buffer; readonly binary: boolean }> | null = null;
  private ended = false;
  private upstreamPaused = false;
  private ticket: AdmissionTicket | null = null;
  /** Heard from the client since the keep-alive's last ping (a new one counts as heard). */
  heard = true;
  bytesToPeer = 0;
  bytesToClient = 0;
  messagesToPeer = 0;
  messagesToClient = 0;

  constructor(
    readonly id: number,
    options: WebSocketClientOptions,
    answer: UpgradeAnswer<RelayData>,
    private readonly fields: LogFields,
    private readonly observer: BridgeObserver,
    /** Who the metrics count it for (identityLabel). */
    private readonly identity: string,
    /** The keep-alive sweep the client joins once accepted. */
    private readonly keptAlive: ClientSet,
  ) {
    this.pending = { answer, started: performance.now() };
    this.upstream = new WebSocketClient(options, this);
    answer.onCancel(() => this.upstream.terminate());
  }

  get logFields(): LogFields {
    return this.fields;
  }

  // ---- the upstream's events ----

  opened(protocol: string): void {
    const pending = this.pending;
    if (pending === null) return;
    this.pending = null;
    this.observer.peerConnected((performance.now() - pending.started) / 1000);
    if (!pending.answer.accept({ id: this.id, relay: this }, protocol)) this.upstream.terminate();
  }

  message(data: Buffer, binary: boolean): void {
    if (this.client !== null) this.toClient(data, binary);
    else if (!this.ended) (this.early ??= []).push({ data: Buffer.from(data), binary });
  }

  unexpectedResponse(status: number): void {
    this.refuse(`upstream answered HTTP ${status}`, null);
  }

  closed(end: WebSocketEnd): void {
    if (this.pending !== null) {
      this.refuse(end.why, end.error);
      return;
    }
    if (this.ended) return;
    // The upstream's close frame goes on as it came; one without a code (1005) as one without a
    // code too (the engines send an empty close for 1005): the client sees what the upstream said.
    if (sendableCloseCode(end.code) || end.code === NO_STATUS) {
      this.closeClient({ code: end.code, reason: end.reason });
      return;
    }
    if (end.code === ABNORMAL_CLOSURE && end.why !== DROPPED) {
      log.warn('websocket upstream error', { ...this.fields, why: end.why });
      this.closeClient({ code: WsCloseCode.badGateway, reason: `upstream: ${end.why}` });
      return;
    }
    this.closeClient({ code: WsCloseCode.badGateway, reason: `upstream connection ended without a close frame (${end.code})` });
  }

  /** The client's upgrade, refused: the upstream failed (`error`, when it says how) or answered something other than 101. */
  private refuse(why: string, error: Error | null): void {
    const pending = this.pending;
    this.pending = null;
    this.upstream.terminate();
    if (pending === null || pending.answer.settled) return;
    if (error instanceof DestinationDenied) {
      log.warn('websocket upstream refused', { ...this.fields, status: 403, why });
      pending.answer.refuse(new Refusal('peer-denied', 403, 'Forbidden', why));
      return;
    }
    if (error !== null && isHostLimit(errorCode(error))) {
      log.warn('websocket upstream failed', { ...this.fields, status: 503, why });
      pending.answer.refuse(hostLimitRefusal(why));
      return;
    }
    const timedOut = /timed out/i.test(why);
    log.warn('websocket upstream failed', { ...this.fields, status: timedOut ? 504 : 502, why });
    pending.answer.refuse(timedOut ? new Refusal('peer-timeout', 504, 'Gateway timeout', why) : new Refusal('peer-unreachable', 502, 'Bad gateway', why));
  }

  // ---- the client's side ----

  attach(client: UwsWebSocket<RelayData>): void {
    this.client = client;
    this.ticket = client.getUserData().ticket ?? null;
    this.keptAlive.add(this);
    this.observer.opened(this, this.identity);
    const early = this.early;
    this.early = null;
    if (early !== null) for (const { data, binary } of early) this.toClient(data, binary);
  }

  private toClient(data: Buffer, binary: boolean): void {
    const client = this.client;
    if (client === null || this.ended) return;
    if (this.ticket !== null) this.ticket.lastActive = idleClock.now;
    try {
      sendMessage(client, data, binary);
      this.bytesToClient += data.length;
      this.messagesToClient++;
    } catch (error) {
      if (error instanceof SendOverflowError) this.closeClient(overflowed(error));
      else throw error;
      return;
    }
    if (!this.upstreamPaused && aboveHighWater(client.getBufferedAmount(), HIGH_WATER)) {
      this.upstreamPaused = true;
      this.upstream.pause();
    }
  }

  clientDrained(): void {
    const client = this.client;
    if (this.upstreamPaused && client !== null && drainedBelowLowWater(client.getBufferedAmount(), HIGH_WATER)) {
      this.upstreamPaused = false;
      this.upstream.resume();
    }
  }

  fromClient(message: ArrayBuffer, isBinary: boolean): void {
    this.heard = true;
    if (this.ended) return;
    if (message.byteLength > MAX_MESSAGE) {
      this.closeClient({ code: WsCloseCode.tooBig, reason: `message of ${message.byteLength} bytes is over ${MAX_MESSAGE}` });
      return;
    }
    const queued = this.upstream.bufferedAmount;
    if (queued > HIGH_WATER) {
      this.closeClient(notReading('upstream', queued, HIGH_WATER));
      this.upstream.terminate();
      return;
    }
    // Masked into the upstream's staging buffer during the call, before uWS reuses the memory.
    this.upstream.send(Buffer.from(message), isBinary);
    this.bytesToPeer += message.byteLength;
    this.messagesToPeer++;
  }

  clientPong(): void {
    this.heard = true;
  }

  ping(): void {
    this.client?.ping('PING');
  }

  /** The keep-alive's cut of a client that stopped answering: no close handshake it cannot answer. */
  terminate(reason: string): void {
    const client = this.client;
    if (client === null || this.ended) return;
    this.ended = true;
    log.info('websocket relay closed', { ...this.fields, code: ABNORMAL_CLOSURE, why: reason });
    client.close();
  }

  /** Shutdown's close. */
  close(code: number, reason: string): void {
    this.closeClient({ code, reason });
  }

  private closeClient(decision: CloseDecision): void {
    if (this.ended) return;
    this.ended = true;
    if (decision.code !== WsCloseCode.normal && decision.code !== NO_STATUS) log.info('websocket relay closed', { ...this.fields, code: decision.code, why: decision.reason });
    this.client?.end(decision.code, closeReason(decision.reason));
  }

  /** uWS's close handler: pass the client's close on, after what it sent before it (staged in order). */
  clientClosed(code: number, reason: ArrayBuffer): void {
    this.client = null;
    this.keptAlive.delete(this);
    this.observer.closed(this, code);
    const wasClosed = this.ended;
    this.ended = true;
    if (!this.upstream.isOpen) return;
    if (wasClosed) this.upstream.close();
    else if (sendableCloseCode(code)) this.upstream.close(code, Buffer.from(reason).toString('utf8'));
    else this.upstream.close();
  }

  abortAfterFault(reason: string): void {
    this.upstream.terminate();
    const pending = this.pending;
    this.pending = null;
    if (pending !== null) {
      if (!pending.answer.settled) pending.answer.refuse(new Refusal('internal', 500, 'Internal error', reason));
    } else if (this.client !== null && !this.ended) {
      this.closeClient({ code: WsCloseCode.unexpected, reason });
    }
  }

  /** The client's socket is gone and its close handling failed: let go of the upstream. */
  abandon(): void {
    this.client = null;
    this.keptAlive.delete(this);
    this.ended = true;
    this.upstream.terminate();
  }
}

export class WebSocketRelay implements WsEndpoint<RelayData> {
  readonly name: string;
  readonly limits: SocketLimits = { maxPayloadLength: MAX_MESSAGE, maxBackpressure: SEND_BOUND };
  /** Holds the upstream's name to the route's allow (null: none). */
  private readonly lookup: LookupFunction | null;
  private readonly observer: BridgeObserver;

  /** `proxyProtocol`: the PROXY header that leads each upstream connection (ws:// only), or null. */
  constructor(
    private readonly route: Route,
    private readonly base: URL,
    allow: DestinationAllowList | null,
    private readonly tls: UpstreamTls,
    private readonly clientProto: 'http' | 'https',
    private readonly proxyProtocol: ProxyVersion | null,
    observers: BridgeObservers,
    private readonly keptAlive: ClientSet,
  ) {
    this.name = `route ${route.prefix}`;
    this.lookup = allow === null ? null : allow.lookupFor(portOf(base));
    this.observer = observers.forEndpoint(this.name, 'websocket');
  }

  upgrade(request: ClientRequest, answer: UpgradeAnswer<RelayData>): void {
    const { route, base } = this;
    const fields = { id: request.id, route: route.prefix, path: request.path, upstream: base.origin, ...addressFields(request) };
    const forwarded = upstreamRequestHeaders(
      request.headers.filter((header) => !header.name.startsWith('sec-websocket-')),
      { hopAddress: request.hopAddress, proto: this.clientProto, host: route.host === 'keep' ? 'keep' : base.host, trustedClient: false },
    );
    const options: WebSocketClientOptions = {
      url: new URL(upstreamUrl(route, base, request)),
      protocols: offeredProtocols(request),
      headers: forwarded,
      handshakeTimeoutMs: route.timeoutMs,
      maxPayload: MAX_MESSAGE,
      // What the client's messages may queue toward the upstream (fromClient's check), and no
      // more: an upstream that stops reading and floods pings would otherwise pile up our pongs.
      maxBuffered: SEND_BOUND,
      tls: this.tls,
      ...(this.lookup === null ? {} : { lookup: this.lookup }),
      // A PROXY header (ws:// only): it names websocksy's end, so it goes out once connected.
      ...(this.proxyProtocol === null ? {} : { createConnection: proxyHeaderConnection(base, this.proxyProtocol, request.clientAddress, this.lookup ?? undefined).createConnection }),
    };
    new Relay(request.id, options, answer, fields, this.observer, identityLabel(request.auth), this.keptAlive);
  }

  open(ws: UwsWebSocket<RelayData>): void {
    ws.getUserData().relay.attach(ws);
  }

  message(ws: UwsWebSocket<RelayData>, message: ArrayBuffer, isBinary: boolean): void {
    ws.getUserData().relay.fromClient(message, isBinary);
  }

  drain(ws: UwsWebSocket<RelayData>): void {
    ws.getUserData().relay.clientDrained();
  }

  pong(ws: UwsWebSocket<RelayData>): void {
    ws.getUserData().relay.clientPong();
  }

  close(ws: UwsWebSocket<RelayData>, code: number, reason: ArrayBuffer): void {
    ws.getUserData().relay.clientClosed(code, reason);
  }

  ownerOf(ws: UwsWebSocket<RelayData>, socketClosed: boolean): Guarded {
    const { relay } = ws.getUserData();
    return socketClosed ? { logFields: relay.logFields, abortAfterFault: () => relay.abandon() } : relay;
  }
}

