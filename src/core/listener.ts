/*
 * The uWebSockets.js app: WebSocket upgrades become bridges, anything else gets a short HTTP
 * answer saying what this port is. One shared timer does the keep-alive for every client.
 */
import uws from 'uWebSockets.js';
import type { HttpRequest, HttpResponse, TemplatedApp, us_listen_socket, us_socket_context_t } from 'uWebSockets.js';
import { WsCloseCode, type Backend, type FramingDefinition, type HttpHeader, type PeerInfo, type PeerQuery } from './api.js';
import { Bridge, type BridgeData } from './bridge.js';
import { listenApp } from './listen-app.js';
import { log } from './log.js';
import type { CoreConfig } from './options.js';
import type { PeerConnection } from './peer.js';
import { PendingUpgrade, refuse, UpgradeRefusal, type UpgradeContext } from './upgrade.js';

export interface ListenerSetup {
  readonly core: CoreConfig;
  readonly backend: Backend;
  readonly framing: (name: string) => FramingDefinition | undefined;
  /** Routes claimed before the bridge's catch-all (the tunnel path, the status endpoint). */
  readonly routes?: ReadonlyArray<(app: TemplatedApp) => void>;
  /** Offered each request the catch-all gets that is not an upgrade; true when it answered (HTTP routes). */
  readonly fallback?: (res: HttpResponse, req: HttpRequest) => boolean;
}

/** Reads run at most 64 KiB at a time, so this margin over the pause point is never reached. */
const SEND_MARGIN = 256 * 1024;

/** Splits Sec-WebSocket-Protocol into trimmed, distinct names, in the client's order. */
export function parseProtocols(header: string): string[] {
  const names: string[] = [];
  for (const part of header.split(',')) {
    const name = part.trim();
    if (name !== '' && !names.includes(name)) names.push(name);
  }
  return names;
}

function hasToken(header: string, token: string): boolean {
  return header.split(',').some((part) => part.trim().toLowerCase() === token);
}

/** uWS writes IPv4 clients of a dual-stack socket as IPv4-mapped IPv6; show them as IPv4. */
export function clientAddressOf(res: { getRemoteAddressAsText(): ArrayBuffer }): string {
  const text = Buffer.from(res.getRemoteAddressAsText()).toString('latin1');
  const mapped = /^(?:0{1,4}:){5}ffff:([0-9a-f]{1,4}):([0-9a-f]{1,4})$/i.exec(text) ?? /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(text);
  if (mapped === null) return text;
  if (mapped[2] === undefined) return mapped[1] ?? text;
  const high = parseInt(mapped[1] ?? '0', 16);
  const low = parseInt(mapped[2], 16);
  return `${high >> 8}.${high & 255}.${low >> 8}.${low & 255}`;
}

export class Listener {
  private readonly app: TemplatedApp;
  private readonly bridges = new Set<Bridge>();
  private readonly pending = new Set<PendingUpgrade>();
  private readonly upgradeContext: UpgradeContext;
  private listenSocket: us_listen_socket | null = null;
  private pingTimer: NodeJS.Timeout | null = null;
  private nextId = 1;
  private shuttingDown = false;

  constructor(private readonly setup: ListenerSetup) {
    const { core } = setup;
    this.upgradeContext = {
      backend: setup.backend,
      framing: setup.framing,
      connectTimeoutMs: core.connectTimeout * 1000,
      createBridge: (query, peer, framing, info) => this.createBridge(query, peer, framing, info),
    };
    this.app = uws.App();
    for (const route of setup.routes ?? []) route(this.app);
    this.app.ws<BridgeData>('/*', {
      compression: uws.DISABLED,
      // uWS drops a connection over its own limit without a close frame; websocksy checks
      // max-message itself to answer 1009, and keeps uWS's hard limit at twice that.
      maxPayloadLength: core.maxMessage * 2,
      maxBackpressure: core.clientBuffer + core.frameLimit + SEND_MARGIN,
      // websocksy's own keep-alive below replaces uWS's idle timeout.
      idleTimeout: 0,
      upgrade: (res, req, context) => this.upgrade(res, req, context),
      open: (ws) => {
        const { bridge } = ws.getUserData();
        this.bridges.add(bridge);
        bridge.open(ws);
      },
      message: (ws, message) => ws.getUserData().bridge.onClientMessage(message),
      drain: (ws) => ws.getUserData().bridge.onClientDrain(),
      pong: (ws) => {
        ws.getUserData().bridge.heard = true;
      },
      close: (ws, code, message) => ws.getUserData().bridge.onClientClosed(code, message),
    });
    this.app.any('/*', (res, req) => this.plainRequest(res, req));
  }

  /** Starts listening; resolves with the bound port. */
  async listen(): Promise<number> {
    const { listen, port } = this.setup.core;
    const socket = await listenApp(this.app, listen, port);
    this.listenSocket = socket;
    this.startKeepAlive();
    return uws.us_socket_local_port(socket);
  }


  /** Stops accepting, refuses handshakes in flight and closes every client with 1001. */
  shutdown(): void {
    this.shuttingDown = true;
    if (this.listenSocket !== null) uws.us_listen_socket_close(this.listenSocket);
    this.listenSocket = null;
    if (this.pingTimer !== null) clearInterval(this.pingTimer);
    const refusal = new UpgradeRefusal('503 Service Unavailable', 'Shutting down', 'shutting down');
    for (const pending of [...this.pending]) pending.answer(refusal);
    for (const bridge of [...this.bridges]) bridge.close(WsCloseCode.shutdown, 'Shutting down');
  }

  get openBridges(): number {
    return this.bridges.size;
  }

  private upgrade(res: HttpResponse, req: HttpRequest, socketContext: us_socket_context_t): void {
    const id = this.nextId++;
    const url = req.getUrl();
    // getQuery() gives undefined, not '', when there is no query string.
    const search: string | undefined = req.getQuery();
    const headers: HttpHeader[] = [];
    req.forEach((name, value) => headers.push({ name, value }));
    const query: PeerQuery = {
      endpoint: search === undefined || search === '' ? url : `${url}?${search}`,
      protocols: parseProtocols(req.getHeader('sec-websocket-protocol')),
      headers,
      clientAddress: clientAddressOf(res),
      connectionId: id,
    };
    const refusal = this.checkHandshake(req);
    if (refusal !== null) {
      log.info('refused', { id, client: query.clientAddress, endpoint: query.endpoint, status: refusal.status, why: refusal.detail });
      const extra: Record<string, string> = refusal.status.startsWith('426') ? { 'Sec-WebSocket-Version': '13' } : {};
      refuse(res, refusal.status, refusal.body, extra);
      return;
    }
    const pending = new PendingUpgrade(
      res,
      { query, key: req.getHeader('sec-websocket-key'), extensions: '', socketContext },
      this.upgradeContext,
      (done) => this.pending.delete(done),
    );
    this.pending.add(pending);
    void pending.run();
  }

  private checkHandshake(req: HttpRequest): UpgradeRefusal | null {
    if (this.shuttingDown) return new UpgradeRefusal('503 Service Unavailable', 'Shutting down', 'shutting down');
    const version = req.getHeader('sec-websocket-version');
    if (version !== '13') {
      return new UpgradeRefusal('426 Upgrade Required', 'Unsupported WebSocket version (use 13)', `Sec-WebSocket-Version "${version}"`);
    }
    if (!hasToken(req.getHeader('upgrade'), 'websocket') || !hasToken(req.getHeader('connection'), 'upgrade')) {
      return new UpgradeRefusal('400 Bad Request', 'Bad WebSocket handshake: Upgrade and Connection headers required', 'missing Upgrade or Connection header');
    }
    return null;
  }

  /** Requests that are not upgrades (uWS also routes here handshakes with a malformed key). */
  private plainRequest(res: HttpResponse, req: HttpRequest): void {
    if (this.setup.fallback?.(res, req) === true) return;
    const method = req.getMethod();
    const looksLikeUpgrade = req.getHeader('upgrade') !== '' || req.getHeader('sec-websocket-key') !== '';
    let refusal: UpgradeRefusal;
    let headers: Record<string, string> = {};
    if (method !== 'get' && method !== 'head') {
      refusal = new UpgradeRefusal('405 Method Not Allowed', 'Method not allowed: this is a WebSocket endpoint', `method ${method.toUpperCase()}`);
      headers = { Allow: 'GET' };
    } else if (looksLikeUpgrade) {
      refusal = new UpgradeRefusal('400 Bad Request', 'Bad WebSocket handshake: missing or malformed Sec-WebSocket-Key', 'bad Sec-WebSocket-Key');
    } else {
      refusal = new UpgradeRefusal('426 Upgrade Required', 'This is a WebSocket endpoint', 'plain HTTP request');
      headers = { Upgrade: 'websocket', 'Sec-WebSocket-Version': '13' };
    }
    log.debug('refused', { endpoint: req.getUrl(), client: clientAddressOf(res), status: refusal.status, why: refusal.detail });
    refuse(res, refusal.status, refusal.body, headers);
  }

  private createBridge(query: PeerQuery, peer: PeerConnection, framing: FramingDefinition, info: PeerInfo): BridgeData {
    const protocol = info.protocol === undefined ? '' : (query.protocols[info.protocol] ?? '');
    const bridge = new Bridge(
      {
        id: query.connectionId,
        clientAddress: query.clientAddress,
        forwardedFor: query.headers.find((header) => header.name === 'x-forwarded-for')?.value,
        endpoint: query.endpoint,
        protocol,
        framing,
        framingConfig: info.framingConfig ?? null,
      },
      peer,
      this.setup.core,
      (closed) => this.bridges.delete(closed),
    );
    return { bridge };
  }

  /**
   * Every `ping` seconds: a client heard from since the last sweep is fine; one that was not
   * gets a ping; one that did not answer the previous ping is dropped.
   */
  private startKeepAlive(): void {
    const seconds = this.setup.core.ping;
    if (seconds === 0) return;
    this.pingTimer = setInterval(() => {
      for (const bridge of this.bridges) {
        if (bridge.heard) {
          bridge.heard = false;
          bridge.awaitingPong = false;
        } else if (bridge.awaitingPong) {
          bridge.terminate(`no answer to ping within ${seconds} s`);
        } else {
          bridge.awaitingPong = true;
          bridge.ping();
        }
      }
    }, seconds * 1000);
  }
}
