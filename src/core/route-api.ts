/*
 * The route module API: what an ES module named by `[route /prefix] module = FILE` exports, and
 * the request, response and socket objects websocksy hands it (docs/routes.md, "Route modules").
 * A route module serves its prefix in-process, as StreamProx's local mode did, next to the
 * prefixes websocksy forwards: plain HTTP requests through `request`, WebSocket upgrades
 * through `websocket`. It is a small request/response API, not a framework: bodies stream in
 * both directions with backpressure, and nothing is parsed for the module beyond the checks
 * every request gets at the edge.
 *
 * Every call websocksy makes into a module is guarded: a throw or a rejected promise costs only
 * that request (500, or a cut connection once the answer has started) or that socket (1011),
 * and is logged as `internal error` with the connection id. Code the module runs on its own
 * (its timers, its own sockets) is its own to guard: an exception there ends the process.
 */
import type { HttpHeader, PeerAuth } from './api.js';

/** The `code` of the errors websocksy's own objects throw into a module's handler. */
export const RouteErrorCode = {
  /** The client left, or websocksy ended the exchange (timeout, fault): stop working for it. */
  clientGone: 'ECLIENTGONE',
  /** The request body passed the route's `max-body`; websocksy has answered 413. */
  bodyTooLarge: 'EBODYTOOLARGE',
} as const;
export type RouteErrorCode = (typeof RouteErrorCode)[keyof typeof RouteErrorCode];

/** What a request or an upgrade on the route says, as the front has checked it. */
export interface RouteRequestHead {
  /** Connection id, as websocksy's log lines name it. */
  readonly id: number;
  /** Upper-case: `GET`. */
  readonly method: string;
  /** The whole path, normalised (no `.`, `..` or empty segments) but not decoded: `/chat/messages`. */
  readonly path: string;
  /** The part of `path` after the route's prefix: `''`, or starting with `/` (`/messages`). */
  readonly rest: string;
  /** The query string as sent, without its `?` (`''` when there is none). */
  readonly query: string;
  /** Every header, names lower-case, in arrival order; each one checked well formed. */
  readonly headers: readonly HttpHeader[];
  /** The client's IP address (a proxy's, behind one). */
  readonly clientAddress: string;
  /** Who the client proved to be, when the route has `auth = ...` (docs/auth.md); absent otherwise. */
  readonly auth?: PeerAuth;
  /** The first value of header `name` (in any case), or undefined. */
  header(name: string): string | undefined;
}

export interface RouteRequest extends RouteRequestHead {
  /**
   * The body as it arrives: `for await (const chunk of request.body)`. A module that reads
   * slowly slows the client down. It ends with the body (at once when there is none), and
   * throws an error whose `code` is a RouteErrorCode when the client leaves or the body passes
   * the route's `max-body`. It can be read once, until the response ends.
   */
  readonly body: AsyncIterable<Buffer>;
}

export interface RouteResponse {
  /** 200 to 599, 200 unless set; set it before the first write() or end() (after, it throws). */
  status: number;
  /**
   * Sets a header, replacing one of the same name (in any case); an array sends it once per
   * value (Set-Cookie). Before the first write() or end(). `Content-Length` fixes the body's
   * length: writing more throws, ending with less cuts the connection. `Connection`,
   * `Transfer-Encoding`, `Keep-Alive`, `Upgrade` and `Date` are websocksy's and throw.
   */
  setHeader(name: string, value: string | readonly string[]): void;
  /** True once the status and headers have gone out: with the first write() or end() (for HEAD, 204 and 304, with end()). */
  readonly headersSent: boolean;
  /**
   * Sends a piece of the body (chunked, unless Content-Length was set); bytes are kept, not
   * copied, until they are sent, so do not change them after. False means the client is
   * behind: wait for drained() before writing more. A module that writes on regardless is cut
   * off once it is far ahead (a fault, logged). Once `aborted`, does nothing and returns false.
   */
  write(chunk: string | Uint8Array): boolean;
  /** Resolves when write() may go on; rejects (code ECLIENTGONE) when the response is aborted first. */
  drained(): Promise<void>;
  /**
   * Ends the response, with a last piece of body if given. A response that is one end(chunk),
   * with no write() and no Content-Length set, gets its Content-Length. Once `aborted`, does nothing.
   */
  end(chunk?: string | Uint8Array): void;
  /**
   * True once the client left, or websocksy answered in the module's place (timeout, 413,
   * fault). From then on the response's methods do nothing (write() returns false), and
   * drained() and the request body reject.
   */
  readonly aborted: boolean;
  /** Runs `handler` once, when the response becomes aborted; at once if it is already. */
  onAborted(handler: () => void): void;
}

export interface RouteSocket {
  /** Connection id, as websocksy's log lines name it. */
  readonly id: number;
  /** The upgrade request. */
  readonly request: RouteRequestHead;
  /** The subprotocol websocksy answered with (`''` for none). */
  readonly protocol: string;
  /** True once close() or terminate() was called, or the connection ended. */
  readonly closed: boolean;
  /**
   * Sends one message: text for a string, binary for bytes, unless `isBinary` says otherwise.
   * False means the client is behind: wait for the `drain` handler before sending more. A
   * client that stays behind is closed with 1013 (Try Again Later) once its queue passes the
   * route's limit; nothing is ever dropped silently. Once `closed`, sends nothing and returns false.
   */
  send(data: string | Uint8Array, isBinary?: boolean): boolean;
  /** Bytes queued toward the client. */
  getBufferedAmount(): number;
  /**
   * Sends a close frame after the messages already queued: `code` 1000 (default), 1001-1003,
   * 1007-1014 or 3000-4999; `reason` is cut to 123 bytes.
   */
  close(code?: number, reason?: string): void;
  /** Drops the connection at once, without a close frame. */
  terminate(): void;
}

/** The handlers of a module that takes WebSocket upgrades on its prefix. */
export interface RouteWebSocket {
  /**
   * Decides an upgrade before it is answered: the subprotocol to answer with, one of those the
   * client offered (in its order), or null for none; or an HTTP status from 400 to 499 to refuse
   * it (404 for a path the module has no socket on, 403 for a client it will not take).
   * Without this handler every upgrade is accepted, with no subprotocol. Synchronous; a throw,
   * or an answer of another kind, refuses the upgrade with 500 as a fault of the module's.
   */
  accept?(request: RouteRequestHead, offered: readonly string[]): string | null | number;
  open?(socket: RouteSocket): void | Promise<void>;
  /** One whole message; `data` is the module's to keep. */
  message?(socket: RouteSocket, data: Buffer, isBinary: boolean): void | Promise<void>;
  /** The client has taken what was queued, after a send() that returned false. */
  drain?(socket: RouteSocket): void | Promise<void>;
  /** The connection ended: `code` 1005 when the close frame had none, 1006 when there was no close frame. */
  close?(socket: RouteSocket, code: number, reason: string): void | Promise<void>;
}

/**
 * A route module's default export. Each route loads its own instance of the module, so two
 * routes naming the same file share no state.
 */
export interface RouteModule {
  /** Called once at start-up, before websocksy listens, with the route's `module-config` (null without one). A throw or rejection stops start-up. */
  init?(config: string | null): void | Promise<void>;
  /** Serves one plain HTTP request on the prefix; without it, plain requests get 426. */
  request?(request: RouteRequest, response: RouteResponse): void | Promise<void>;
  /** Takes WebSocket upgrades on the prefix; without it, they go to the bridge like any other. */
  readonly websocket?: RouteWebSocket;
  /** Called once at shutdown, after the module's sockets were closed with 1001. */
  close?(): void | Promise<void>;
}
