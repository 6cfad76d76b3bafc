/*
 * uWS's App and SSLApp on node:http: the subset websocksy uses (front/app.ts). Connections come
 * from the listener (listener.ts), are wrapped in TLS here for an SSLApp (SNI names get their
 * own certificate and their own routes, as in uWS), and are read by a node:http server that
 * never listens itself. Each request goes, as in uWS, to the WebSocket route of its path when
 * it is a GET with a 24-character Sec-WebSocket-Key, else to the `any` route of its path.
 * As in uWS, the HttpRequest is valid only during the handler, and a handler that returns
 * without answering must have set onAborted: uWS then ends the process; here the connection
 * is cut and the error written to stderr.
 */
import { createServer, ServerResponse, type IncomingMessage, type Server, type ServerOptions } from 'node:http';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { TLSSocket, type SecureContext } from 'node:tls';
import { log } from '../../lib/log.js';
import { JsHttpRequest } from './http-request.js';
import { JsHttpResponse, type UpgradeSource } from './http-response.js';
import { listenOn, type ConnectionTaker, type JsListenSocket } from './listener.js';
import { Router } from './router.js';
import { byServerName, secureContextOf, type TlsFiles } from './tls-context.js';
import { WsRoute, type RouteBehaviour } from './ws-route.js';

export type RequestHandler = (res: JsHttpResponse, req: JsHttpRequest) => void;

/** uWS's DISABLED: the only compression the JS engine knows. */
export const DISABLED = 0;

/** uWS's HTTP idle timeout: how long a connection may take to send a request head. */
const HEAD_TIMEOUT_MS = 10_000;
/** How often node:http checks for heads past HEAD_TIMEOUT_MS: a slow head is cut within 10–11 s. */
const HEAD_CHECK_INTERVAL_MS = 1_000;
/** How long a TLS client may take to finish its handshake. */
const HANDSHAKE_TIMEOUT_MS = 10_000;
const WEBSOCKET_KEY_LENGTH = 24;

/** Node ≥ 22.21 and 24.9 take it; Node 20 ignores it and reads every upgrade as one (upgradeRequest). */
interface UpgradeChoice {
  readonly shouldUpgradeCallback: (message: IncomingMessage) => boolean;
}

const REFUSED_UPGRADE_BODY = 'Bad request: send it again without its Upgrade header\n';

/**
 * A GET's Sec-WebSocket-Key as uWS reads it: the first one sent ('' for none, or for another
 * method). node's `headers` would join repeated ones, which uWS hands on for websocksy's own
 * handshake checks to refuse (handshake.ts).
 */
function webSocketKey(message: IncomingMessage): string {
  if (message.method !== 'GET') return '';
  const raw = message.rawHeaders;
  for (let i = 0; i < raw.length; i += 2) {
    if ((raw[i] as string).toLowerCase() === 'sec-websocket-key') return raw[i + 1] as string;
  }
  return '';
}

/**
 * What uWS hands its WebSocket routes: a GET with a 24-character Sec-WebSocket-Key. Node reads
 * only these as upgrades; any other, `Upgrade: h2c` with a body included, is a request like
 * the rest, as RFC 9110 §7.8 lets a server take it, and a broken handshake is refused by the app.
 */
function isWebSocketHandshake(message: IncomingMessage): boolean {
  return webSocketKey(message).length === WEBSOCKET_KEY_LENGTH;
}

/** An answer that ends the connection, written on a socket node:http no longer answers on. */
function closingAnswer(status: string, body = ''): string {
  const type = body === '' ? '' : 'Content-Type: text/plain; charset=utf-8\r\n';
  return `HTTP/1.1 ${status}\r\nConnection: close\r\n${type}Content-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`;
}

function declaresBody(message: IncomingMessage): boolean {
  const length = message.headers['content-length'];
  return message.headers['transfer-encoding'] !== undefined || (length !== undefined && length !== '0');
}

interface Routes {
  readonly ws: Router<WsRoute<unknown>>;
  readonly any: Router<RequestHandler>;
}

function newRoutes(): Routes {
  return { ws: new Router(), any: new Router() };
}

export class AppError extends Error {
  override readonly name = 'AppError';
}

export class JsApp implements ConnectionTaker {
  private readonly server: Server;
  /** The default routes ('') and each SNI name's. */
  private readonly routes = new Map<string, Routes>([['', newRoutes()]]);
  private registering: Routes;
  private readonly names = new Map<string, SecureContext>();
  /** The address a PROXY header named, per connection the HTTP server reads. */
  private readonly proxied = new WeakMap<Socket, string>();

  constructor(private readonly tls: SecureContext | null) {
    this.registering = this.routes.get('') as Routes;
    const options: ServerOptions & UpgradeChoice = {
      requestTimeout: 0,
      headersTimeout: HEAD_TIMEOUT_MS,
      keepAliveTimeout: HEAD_TIMEOUT_MS,
      noDelay: true,
      connectionsCheckingInterval: HEAD_CHECK_INTERVAL_MS,
      shouldUpgradeCallback: isWebSocketHandshake,
    };
    this.server = createServer(options, (message, res) => {
      this.dispatch(message, new JsHttpResponse(res, message, null, this.proxied.get(message.socket) ?? ''), null);
    });
    this.server.on('upgrade', (message: IncomingMessage, socket: Socket, head: Buffer) => this.upgradeRequest(message, socket, head));
    this.server.on('clientError', (error: NodeJS.ErrnoException, socket: Duplex) => this.parserRefused(error, socket));
    // node:http starts the timer that enforces headersTimeout when its server starts listening;
    // this one never listens itself (listener.ts hands it connections), so it is told it does.
    this.server.emit('listening');
  }

  take(socket: Socket, proxiedAddress: string): void {
    const read = this.tls === null ? socket : this.wrapTls(socket, this.tls);
    if (proxiedAddress !== '') this.proxied.set(read, proxiedAddress);
    this.server.emit('connection', read);
    // A TLS socket reads the raw one's put-back bytes itself; resuming it would lose them.
    if (this.tls === null) socket.resume();
  }

  private wrapTls(socket: Socket, context: SecureContext): TLSSocket {
    const secure = new TLSSocket(socket, {
      isServer: true,
      secureContext: context,
      SNICallback: (name, done) => done(null, byServerName(this.names, name) ?? context),
    });
    const timer = setTimeout(() => secure.destroy(), HANDSHAKE_TIMEOUT_MS);
    secure.once('secure', () => clearTimeout(timer));
    secure.once('close', () => clearTimeout(timer));
    return secure;
  }

  /** A request node read as an upgrade: its answer is written on the raw socket, which then closes, unless a WebSocket route takes it. */
  private upgradeRequest(message: IncomingMessage, socket: Socket, head: Buffer): void {
    if (!isWebSocketHandshake(message) && declaresBody(message)) {
      this.refuseUnreadBody(message, socket);
      return;
    }
    const res = new ServerResponse(message);
    res.shouldKeepAlive = false;
    res.assignSocket(socket);
    res.once('finish', () => socket.end());
    // Until a route takes the socket, a reset only ends it; the response's close handler reports the abort.
    socket.on('error', () => socket.destroy());
    this.dispatch(message, new JsHttpResponse(res, message, { socket, head }, this.proxied.get(socket) ?? ''), { socket, head });
  }

  /**
   * A request node's parser refused before websocksy could see it (stricter than uWS: a
   * malformed head, two Content-Lengths, a head over 16 KiB, one too slow): answered and
   * logged here, as websocksy logs what it refuses itself.
   */
  private parserRefused(error: NodeJS.ErrnoException, socket: Duplex): void {
    const code = error.code ?? 'unknown';
    if (code === 'ECONNRESET' || !socket.writable) {
      socket.destroy();
      return;
    }
    const status = code === 'HPE_HEADER_OVERFLOW' ? '431 Request Header Fields Too Large' : code === 'ERR_HTTP_REQUEST_TIMEOUT' ? '408 Request Timeout' : '400 Bad Request';
    log.info('refused by the HTTP parser', { client: (socket as Socket).remoteAddress, status, why: `${code}: ${error.message}` });
    socket.end(closingAnswer(status));
  }

  /**
   * Only where node has no shouldUpgradeCallback (Node 20): node read any request with
   * `Connection: upgrade` as an upgrade, `Upgrade: h2c` included, and left its body unread on
   * the socket. Served without it, the body would be lost or awaited for ever.
   */
  private refuseUnreadBody(message: IncomingMessage, socket: Socket): void {
    const upgrade = message.headers.upgrade ?? '';
    log.info('refused by the JS engine', { client: socket.remoteAddress, status: '400 Bad Request', why: `Upgrade "${upgrade}" with a request body: node ${process.version} leaves the body unread (Node 22.21 and 24.9 do not)` });
    socket.on('error', () => socket.destroy());
    // The body is read and dropped, so that closing never resets the answer away; a client
    // still sending when the head's time is up again is cut.
    const timer = setTimeout(() => socket.destroy(), HEAD_TIMEOUT_MS);
    socket.once('close', () => clearTimeout(timer));
    socket.resume();
    socket.end(closingAnswer('400 Bad Request', REFUSED_UPGRADE_BODY));
  }

  private routesFor(socket: Socket): Routes {
    const fallback = this.routes.get('') as Routes;
    if (this.routes.size === 1 || !(socket instanceof TLSSocket)) return fallback;
    const name = socket.servername;
    if (typeof name !== 'string') return fallback;
    return byServerName(this.routes, name) ?? fallback;
  }

  private dispatch(message: IncomingMessage, res: JsHttpResponse, source: UpgradeSource | null): void {
    const req = new JsHttpRequest(message);
    const routes = this.routesFor(message.socket);
    try {
      // Only a socket node handed over as an upgrade can switch protocols.
      const key = source !== null ? webSocketKey(message) : '';
      const route = key.length === WEBSOCKET_KEY_LENGTH ? routes.ws.match(req.path) : undefined;
      if (route !== undefined) {
        const { upgrade } = route.behaviour;
        if (upgrade !== undefined) upgrade(res, req, route);
        else res.upgrade({}, key, req.getHeader('sec-websocket-protocol').split(',')[0]?.trim() ?? '', '', route);
      } else {
        const handler = routes.any.match(req.path);
        if (handler !== undefined) handler(res, req);
        else res.writeStatus('404 Not Found').end('', true);
      }
    } finally {
      req.invalidate();
    }
    if (!res.done && !res.hasAbortHandler) {
      process.stderr.write(`Error: Returning from a request handler without responding or attaching an onAborted handler is forbidden! (${message.method} ${req.path}; the JS engine cuts the connection)\n`);
      (source?.socket ?? message.socket).destroy();
    }
  }

  ws<D>(pattern: string, behaviour: RouteBehaviour<D> & { readonly compression?: number; readonly sendPingsAutomatically?: boolean }): this {
    if ((behaviour.compression ?? DISABLED) !== DISABLED) throw new AppError('the JS engine has no per-message compression (use DISABLED)');
    if ((behaviour.idleTimeout ?? 0) !== 0) throw new AppError('the JS engine has no idleTimeout (websocksy keeps its sockets alive itself)');
    this.registering.ws.add(pattern, new WsRoute<D>(behaviour) as WsRoute<unknown>);
    return this;
  }

  any(pattern: string, handler: RequestHandler): this {
    this.registering.any.add(pattern, handler);
    return this;
  }

  listen(host: string, port: number, cb: (socket: JsListenSocket | false) => void): this;
  listen(port: number, cb: (socket: JsListenSocket | false) => void): this;
  listen(hostOrPort: string | number, portOrCb: number | ((socket: JsListenSocket | false) => void), cb?: (socket: JsListenSocket | false) => void): this {
    if (typeof hostOrPort === 'number' && typeof portOrCb === 'function') listenOn('::', hostOrPort, this, portOrCb);
    else if (typeof hostOrPort === 'string' && typeof portOrCb === 'number' && cb !== undefined) listenOn(hostOrPort, portOrCb, this, cb);
    else throw new AppError('listen(host, port, cb) or listen(port, cb)');
    return this;
  }

  addServerName(hostname: string, options: TlsFiles): this {
    if (this.tls === null) throw new AppError('addServerName on an app without TLS');
    this.names.set(hostname.toLowerCase(), secureContextOf(options));
    if (!this.routes.has(hostname.toLowerCase())) this.routes.set(hostname.toLowerCase(), newRoutes());
    return this;
  }

  /** Registers the next handlers under `hostname`'s routes, as uWS does. */
  domain(hostname: string): this {
    const routes = this.routes.get(hostname.toLowerCase());
    if (routes === undefined) throw new AppError(`domain(${hostname}) before addServerName`);
    this.registering = routes;
    return this;
  }
}

export function App(): JsApp {
  return new JsApp(null);
}

export function SSLApp(options: TlsFiles): JsApp {
  return new JsApp(secureContextOf(options));
}
