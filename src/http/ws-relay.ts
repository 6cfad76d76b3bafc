/*
 * A `websocket = ws://…` route: each upgrade on the prefix opens a WebSocket to the remote URL
 * first (so an unreachable one gets a 502 answer, not an accepted-then-closed socket, and one
 * whose name resolves outside the route's allow a 403), then
 * accepts the client and relays messages both ways, text as text and binary as binary, and
 * the close codes. Backpressure follows the one policy (core/send-policy.ts): a client that
 * reads slowly pauses the upstream until uWS drains; an upstream that reads slowly cannot
 * pause the client (uWS 20.30 has no ws.pause()), so past the high-water mark the client is
 * closed with 1013. Nothing is dropped silently. Every `ws` callback runs behind the guard.
 * The metrics count each relay as a connection of the endpoint `route /PREFIX` (backend
 * `websocket`): its open and close, bytes and messages each way, and the upstream's connect time.
 */
import type { LookupFunction } from 'node:net';
import { idleClock, type AdmissionTicket } from '../core/admission.js';
import WebSocket from 'ws';
import type { WebSocket as UwsWebSocket } from 'uWebSockets.js';
import { WsCloseCode } from '../core/api.js';
import { identityLabel, type BridgeCounts, type BridgeObserver, type BridgeObservers } from '../core/bridge-observer.js';
import type { SocketData, SocketLimits, UpgradeAnswer, WsEndpoint } from '../core/endpoint.js';
import { Refusal } from '../core/refusal.js';
import { addressFields, offeredProtocols, type ClientRequest } from '../core/request.js';
import { aboveHighWater, drainedBelowLowWater, maxBackpressureFor, notReading, overflowed, sendableCloseCode, SendOverflowError, sendMessage, type CloseDecision } from '../core/send-policy.js';
import { DestinationDenied, type DestinationAllowList } from '../lib/destination-allow.js';
import { errorMessage } from '../lib/errors.js';
import { guarded, type Guarded } from '../lib/guard.js';
import { log, type LogFields } from '../lib/log.js';
import type { ProxyVersion } from '../lib/proxy-header.js';
import { wsTlsOptions, type UpstreamTls } from '../lib/tls-upstream.js';
import { closeReason } from '../lib/text.js';
import { portOf } from '../lib/url.js';
import { upstreamRequestHeaders } from './forward-headers.js';
import { proxyHeaderConnection } from './proxy-header-connection.js';
import type { Route } from './route-table.js';
import { upstreamUrl } from './upstream-path.js';

/** Messages are relayed whole; larger ones close the connection (1009). */
const MAX_MESSAGE = 16 * 1024 * 1024;
/** Unsent bytes allowed toward either side before the relay pauses (toward the client) or gives up (toward the upstream). */
const HIGH_WATER = 4 * 1024 * 1024;

interface RelayData extends SocketData {
  readonly relay: Relay;
}

/** One client ⇄ upstream pair, from the client's 101 on; "peer" in its counts is the upstream. */
class Relay implements Guarded, BridgeCounts {
  private client: UwsWebSocket<RelayData> | null = null;
  private closed = false;
  private upstreamPaused = false;
  private ticket: AdmissionTicket | null = null;
  bytesToPeer = 0;
  bytesToClient = 0;
  messagesToPeer = 0;
  messagesToClient = 0;

  constructor(
    readonly id: number,
    private readonly upstream: WebSocket,
    private readonly fields: LogFields,
    private readonly observer: BridgeObserver,
    /** Who the metrics count it for (identityLabel). */
    private readonly identity: string,
  ) {}

  get logFields(): LogFields {
    return this.fields;
  }

  attach(client: UwsWebSocket<RelayData>): void {
    this.client = client;
    this.ticket = client.getUserData().ticket ?? null;
    this.observer.opened(this, this.identity);
    const { upstream } = this;
    upstream.on('message', guarded(this, 'upstream message', (data: Buffer, binary: boolean) => this.toClient(data, binary)));
    upstream.on('close', guarded(this, 'upstream close', (code: number, reason: Buffer) => this.upstreamClosed(code, reason)));
    upstream.on('error', guarded(this, 'upstream error', (error: Error) => log.warn('websocket upstream error', { ...this.fields, why: errorMessage(error) })));
  }

  private toClient(data: Buffer, binary: boolean): void {
    const client = this.client;
    if (client === null || this.closed) return;
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
    if (this.closed) return;
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
    // uWS reuses the message's memory after this call: copy it.
    this.upstream.send(Buffer.copyBytesFrom(new Uint8Array(message)), { binary: isBinary });
    this.bytesToPeer += message.byteLength;
    this.messagesToPeer++;
  }

  private upstreamClosed(code: number, reason: Buffer): void {
    if (this.closed) return;
    if (sendableCloseCode(code)) this.closeClient({ code, reason: reason.toString('utf8') });
    else this.closeClient({ code: WsCloseCode.badGateway, reason: `upstream connection ended without a close frame (${code})` });
  }

  private closeClient(decision: CloseDecision): void {
    if (this.closed) return;
    this.closed = true;
    if (decision.code !== WsCloseCode.normal) log.info('websocket relay closed', { ...this.fields, code: decision.code, why: decision.reason });
    this.client?.end(decision.code, closeReason(decision.reason));
  }

  /** uWS's close handler: pass the client's close on (after what it sent before it, which `ws` queues in order). */
  clientClosed(code: number, reason: ArrayBuffer): void {
    this.client = null;
    this.observer.closed(this, code);
    const wasClosed = this.closed;
    this.closed = true;
    if (this.upstream.readyState !== WebSocket.OPEN) return;
    if (wasClosed) this.upstream.close();
    else if (sendableCloseCode(code)) this.upstream.close(code, Buffer.from(reason));
    else this.upstream.close();
  }

  abortAfterFault(reason: string): void {
    this.upstream.terminate();
    if (this.client !== null && !this.closed) this.closeClient({ code: WsCloseCode.unexpected, reason });
  }

  /** The client's socket is gone and its close handling failed: let go of the upstream. */
  abandon(): void {
    this.client = null;
    this.closed = true;
    this.upstream.terminate();
  }
}

/** ws hands its options to node:http, `lookup` included; its typings leave that one out. */
type UpstreamOptions = WebSocket.ClientOptions & { readonly lookup?: LookupFunction };

export class WebSocketRelay implements WsEndpoint<RelayData> {
  readonly name: string;
  readonly limits: SocketLimits = { maxPayloadLength: MAX_MESSAGE, maxBackpressure: maxBackpressureFor(HIGH_WATER, MAX_MESSAGE) };
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
    const url = upstreamUrl(route, base, request);
    const options: UpstreamOptions = {
      ...wsTlsOptions(url, this.tls),
      headers: forwarded as Record<string, string>,
      perMessageDeflate: false,
      handshakeTimeout: route.timeoutMs,
      maxPayload: MAX_MESSAGE,
      ...(this.lookup === null ? {} : { lookup: this.lookup }),
      // A PROXY header (ws:// only, so never beside wsTlsOptions' connection): `ws` hands
      // createConnection to node:http, which also takes a socket through a callback, as the
      // header needs (it names websocksy's end, known once connected); ws's typing knows only net's.
      ...(this.proxyProtocol === null ? {} : { createConnection: proxyHeaderConnection(base, this.proxyProtocol, request.clientAddress, this.lookup ?? undefined).createConnection as unknown as WebSocket.ClientOptions['createConnection'] }),
    };
    const started = performance.now();
    const upstream = new WebSocket(url, offeredProtocols(request), options);
    const relay = new Relay(request.id, upstream, fields, this.observer, identityLabel(request.auth));
    const owner: Guarded = {
      logFields: fields,
      abortAfterFault: (reason) => {
        upstream.terminate();
        answer.refuse(new Refusal('internal', 500, 'Internal error', reason));
      },
    };
    answer.onCancel(() => upstream.terminate());
    upstream.once('open', guarded(owner, 'upstream open', () => {
      this.observer.peerConnected((performance.now() - started) / 1000);
      if (!answer.accept({ id: request.id, relay }, upstream.protocol)) upstream.terminate();
    }));
    const refuse = (why: string, denied = false): void => {
      if (answer.settled) return;
      if (denied) {
        log.warn('websocket upstream refused', { ...fields, status: 403, why });
        answer.refuse(new Refusal('peer-denied', 403, 'Forbidden', why));
        return;
      }
      const timedOut = /timed out/i.test(why);
      log.warn('websocket upstream failed', { ...fields, status: timedOut ? 504 : 502, why });
      answer.refuse(timedOut ? new Refusal('peer-timeout', 504, 'Gateway timeout', why) : new Refusal('peer-unreachable', 502, 'Bad gateway', why));
    };
    upstream.on('unexpected-response', guarded(owner, 'upstream answer', (_request, response) => {
      refuse(`upstream answered HTTP ${response.statusCode ?? 0}`);
      upstream.terminate();
    }));
    upstream.on('error', guarded(owner, 'upstream error', (error: Error) => refuse(errorMessage(error), error instanceof DestinationDenied)));
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

  close(ws: UwsWebSocket<RelayData>, code: number, reason: ArrayBuffer): void {
    ws.getUserData().relay.clientClosed(code, reason);
  }

  ownerOf(ws: UwsWebSocket<RelayData>, socketClosed: boolean): Guarded {
    const { relay } = ws.getUserData();
    return socketClosed ? { logFields: relay.logFields, abortAfterFault: () => relay.abandon() } : relay;
  }
}

