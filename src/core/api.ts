/*
 * The plugin API: everything a backend or a framing function sees of websocksy.
 * This file is the TypeScript twin of plugins/websocksy.h; keep the two in step.
 */

/** API version a backend's `init` must report (websocksy.h: WEBSOCKSY_API_VERSION). */
export const WEBSOCKSY_API_VERSION = 1;

/** Frame types a framing function may choose (websocksy.h: ws_operation). */
export const WsOperation = {
  text: 1,
  binary: 2,
  /** Drop the framed bytes instead of sending them (websocksy.h: ws_frame_discard). */
  discard: 11,
} as const;
export type WsOperation = (typeof WsOperation)[keyof typeof WsOperation];

/** Close codes websocksy sends (RFC 6455 section 7.4.1; websocksy.h: ws_close_reason). */
export const WsCloseCode = {
  normal: 1000,
  shutdown: 1001,
  protocol: 1002,
  /** RFC 6455 §7.4.1: a message broke the server's policy (a limit). */
  policy: 1008,
  tooBig: 1009,
  unexpected: 1011,
  tryAgainLater: 1013,
  badGateway: 1014,
} as const;
export type WsCloseCode = (typeof WsCloseCode)[keyof typeof WsCloseCode];

/**
 * Per-connection context of a framing function. websocksy resets `opcode` to binary before
 * every call; `state` starts as null and belongs to the function (websocksy.h: framing_data).
 */
export interface FramingContext {
  opcode: WsOperation;
  state: unknown;
  readonly config: string | null;
}

/**
 * Decides how many of the unframed peer bytes form the next WebSocket message.
 *
 * `data` holds every byte not yet framed; its last `lastRead` bytes arrived with the newest peer
 * read (the rest was left over from earlier calls). Return:
 *   > 0  send that many bytes from the start of `data` as one message with `ctx.opcode`;
 *        websocksy calls again at once if bytes remain;
 *     0  the next message is not complete yet: wait for more peer data;
 *   < 0  the stream cannot be framed: the connection closes with 1011.
 * `data` is only valid during the call; keep no reference to it.
 * On close, websocksy calls once with `data === null` so the function can release `ctx.state`.
 */
export type FramingFunction = (data: Uint8Array | null, lastRead: number, ctx: FramingContext) => number;

/** A named framing function, as registered with websocksy. */
export interface FramingDefinition {
  readonly name: string;
  readonly frame: FramingFunction;
  /**
   * Checks a framing config before any connection uses it; throws an Error whose message says
   * what is wrong. Called when a backend is configured, so bad configs fail at start-up.
   */
  readonly checkConfig?: (config: string | null) => void;
}

/** An HTTP request header of the upgrade request; `name` is lower-case. */
export interface HttpHeader {
  readonly name: string;
  readonly value: string;
}

/** A JSON value, as a JWT's claims hold them. */
export type JsonValue = string | number | boolean | null | readonly JsonValue[] | { readonly [key: string]: JsonValue };

/** Who the client proved to be, when an `[auth]` section admitted it (docs/auth.md). */
export interface PeerAuth {
  /** The kind of `[auth]` section that admitted the client. */
  readonly method: 'bearer' | 'basic' | 'jwt' | 'origin';
  /** The user name (basic), the token's name (bearer, when its line names one), the user claim (jwt); null when there is none. */
  readonly user: string | null;
  /** A JWT's claims, as plain JSON; null for the other methods. */
  readonly claims: { readonly [claim: string]: JsonValue } | null;
}

/** What a backend learns about a new WebSocket connection. */
export interface PeerQuery {
  /** Request path with its query string, e.g. `/vnc?token=1`. */
  readonly endpoint: string;
  /** Offered subprotocols, in the client's order, trimmed, without duplicates. */
  readonly protocols: readonly string[];
  /** Every request header, in arrival order, names lower-cased. */
  readonly headers: readonly HttpHeader[];
  /** The client's IP address as text. */
  readonly clientAddress: string;
  /** Connection id, as used in websocksy's log lines. */
  readonly connectionId: number;
  /** Present when the bridge or route has `auth = ...` and the client passed it. */
  readonly auth?: PeerAuth;
}

/** Peer transports (websocksy.h: peer_transport). */
export type PeerTransport = 'tcp' | 'udp' | 'unix' | 'unix-dgram';

/** A backend's answer: where to connect and how to frame (websocksy.h: ws_peer_info). */
export interface PeerInfo {
  /**
   * Peer address: `tcp://host[:port]`, `udp://host[:port]`, `unix://path`, `unix-dgram://path`,
   * or a bare host (taken as tcp, with a warning). IPv6 literals in brackets: `tcp://[::1]:80`.
   */
  readonly host: string;
  /** Port, when `host` carries none. */
  readonly port?: string;
  /** Name of a registered framing function; `auto` when absent. */
  readonly framing?: string;
  readonly framingConfig?: string;
  /** Index into `PeerQuery.protocols` of the subprotocol to answer with; absent = none. */
  readonly protocol?: number;
  /**
   * The peer may outlive its client's connection: a client that offers the subprotocol
   * `websocksy.session.v1` gets a resumable session (docs/sessions.md). Absent = false.
   */
  readonly resumable?: boolean;
  /**
   * Send the peer a PROXY protocol header (`v1` or `v2`, HAProxy's proxy-protocol.txt) before
   * any data, carrying `PeerQuery.clientAddress`, so that a peer behind websocksy sees the real
   * client. tcp and unix peers only: a datagram peer with it is refused (502). Absent = none.
   * websocksy.h's ws_peer_info has no such field (its layout is ABI v1's): C backends cannot ask.
   */
  readonly proxyProtocol?: 'v1' | 'v2';
}

/** Where a `configure` value came from. */
export interface ConfigureContext {
  /** The folder relative paths in the value start from: the config file's, or the working directory for `-c`. */
  readonly baseDir: string;
}

/**
 * A peer-discovery backend. `configure` is called once per `[backend]` line or `-c key=value`,
 * in order, and throws an Error saying what is wrong with the value. `query` may be async: other
 * connections go on while it runs, up to `backend-timeout`. Returning null refuses the connection.
 */
export interface Backend {
  readonly name: string;
  configure?(key: string, value: string, context: ConfigureContext): void;
  /** Called once after the last `configure`, before websocksy listens: check the whole config. */
  ready?(): void;
  query(query: PeerQuery): PeerInfo | null | Promise<PeerInfo | null>;
  cleanup?(): void | Promise<void>;
}

/** What websocksy hands a backend factory: the framing registry, and where to log. */
export interface BackendHost {
  /** Looks up a framing function; undefined when no function of that name is registered. */
  framing(name: string): FramingDefinition | undefined;
  warn(message: string): void;
}

/** A backend module's default export (backend_NAME.mjs: `export default function (host) {…}`). */
export type BackendFactory = (host: BackendHost) => Backend;

/** A framing module's default export (framing_NAME.mjs): one definition, or several. */
export type FramingModule = FramingDefinition | readonly FramingDefinition[];
