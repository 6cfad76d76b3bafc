/*
 * The core options: one table serves the [core] section, the command line, the defaults and
 * the help text, so the three can never disagree. Sizes have upper bounds that fit the engine's
 * types (uWS keeps payload and backpressure limits in 32-bit fields).
 */
import { availableParallelism } from 'node:os';
import { isIP } from 'node:net';
import { fileURLToPath } from 'node:url';
import { formatSize, parseBoolean, parseCount, parsePort, parseSeconds, parseSize } from '../lib/grammar.js';
import { AddressList } from '../lib/address-list.js';
import { parseProxyVersion } from '../lib/proxy-header.js';
import type { ForwardedHeader } from '../front/client-address.js';
import { DestinationAllowList } from '../lib/destination-allow.js';
import { parseDestinationRules } from '../lib/destination-rules.js';
import { parseLogFormat, type LogFormat } from '../lib/log.js';
import { normalisePath } from '../front/path.js';
import { parseAuthNames } from './auth-sections.js';
import { pathFrom, type SettingOrigin } from './settings.js';

/** The installation's plugin folder (not the working directory's, as in the C websocksy). */
export const DEFAULT_PLUGIN_FOLDER = fileURLToPath(new URL('../../../plugins', import.meta.url));

const KIB = 1024;
const MIB = 1024 * KIB;
const GIB = 1024 * MIB;

export interface CoreConfig {
  port: number;
  listen: string;
  /** Seconds between pings; a client silent for a whole interval after a ping is closed. 0 = off. */
  ping: number;
  /** Largest message a client may send, in bytes. */
  maxMessage: number;
  /** Largest run of peer bytes without a frame boundary, in bytes. */
  frameLimit: number;
  /** Bytes queued towards a client before its peer is paused. */
  clientBuffer: number;
  /** Bytes queued towards a peer before the connection closes with 1013; null: the default for max-message. */
  peerBuffer: number | null;
  /** Seconds allowed for connecting to a peer before the upgrade is refused with 504. */
  connectTimeout: number;
  /** Seconds a backend may take to answer before the upgrade is refused with 504. */
  backendTimeout: number;
  /** Upgrades that may wait for their answer at once. */
  maxHandshakes: number;
  /** Seconds from a complete upgrade request to its 101; then 504. */
  handshakeTimeout: number;
  /** Answer the 101 once the peer is chosen, before it is connected; an unreachable peer then closes with 1014. */
  earlyUpgrade: boolean;
  /** WebSocket connections at once, all listeners together; 0 = no cap. */
  maxConnections: number;
  /** WebSocket connections per client address (IPv6 per /64); 0 = no cap. */
  maxConnectionsPerAddress: number;
  /** WebSocket connections per identity; 0 = no cap. */
  maxConnectionsPerIdentity: number;
  /** Seconds without data either way before a connection is closed; 0 = never. */
  idleTimeout: number;
  /** Seconds SIGTERM lets open connections and tunnel streams finish before closing them with 1001; 0 = at once. */
  drainTimeout: number;
  /** Bytes per second each way per connection; 0 = unlimited. */
  rateLimit: number;
  /** Bytes per second each way for all of one identity's connections together; 0 = unlimited. */
  identityRateLimit: number;
  /** Proxies in front whose word on the client (PROXY header, X-Forwarded-*) is believed. */
  trustedProxies: AddressList;
  /** `v2`: trusted proxies send a PROXY protocol v2 header, and must (docs/client-address.md). */
  proxyProtocol: 'off' | 'v2';
  /** The header trusted proxies name the client in. */
  clientAddressHeader: ForwardedHeader;
  /** Where the bridge's backend answers may lead (docs/allow-lists.md); null: only fixed answers pass. */
  allowPeers: DestinationAllowList | null;
  /** Where resumable sessions are resumed and driven over HTTP (docs/sessions.md). */
  sessionPath: string;
  /** Seconds a detached session waits for its client. */
  sessionGrace: number;
  /** Peer output kept unacknowledged per session before the peer is paused. */
  sessionBuffer: number;
  /** Sessions at once. */
  sessionLimit: number;
  /** Folder of drop-in plugins, absolute. */
  plugins: string;
  /** `auth = NAME, ...`: the [auth] sections that guard the bridge (resolved in apply.ts, once every section is read). */
  auth: { readonly names: readonly string[]; readonly origin: SettingOrigin } | null;
  /** Start on websocksy's JS engine when no native build loads, instead of refusing to (WEBSOCKSY_ENGINE=js implies it). */
  allowJsEngine: boolean;
  /** Worker processes serving the same ports (docs/cluster.md); 1: this process serves. */
  workers: number;
  verbose: boolean;
  /** text (time level message key=value) or json (one object per line, pino); read ahead of the rest (log-format.ts). */
  logFormat: LogFormat;
}

export const defaultCoreConfig: Readonly<CoreConfig> = {
  port: 8001,
  listen: '::',
  ping: 30,
  maxMessage: MIB,
  frameLimit: MIB,
  clientBuffer: MIB,
  peerBuffer: null,
  connectTimeout: 5,
  backendTimeout: 5,
  maxHandshakes: 1024,
  handshakeTimeout: 15,
  earlyUpgrade: false,
  maxConnections: 10_000,
  maxConnectionsPerAddress: 0,
  maxConnectionsPerIdentity: 0,
  idleTimeout: 0,
  drainTimeout: 30,
  rateLimit: 0,
  identityRateLimit: 0,
  trustedProxies: new AddressList([]),
  proxyProtocol: 'off',
  clientAddressHeader: 'x-forwarded-for',
  allowPeers: null,
  sessionPath: '/.websocksy/session',
  sessionGrace: 120,
  sessionBuffer: 4 * MIB,
  sessionLimit: 1024,
  plugins: DEFAULT_PLUGIN_FOLDER,
  auth: null,
  allowJsEngine: false,
  workers: 1,
  verbose: false,
  logFormat: 'text',
};

/** What may wait for a peer: at least 4 MiB, and at least one message. */
export function peerBufferOf(config: CoreConfig): number {
  return config.peerBuffer ?? Math.max(4 * MIB, config.maxMessage);
}

/**
 * Refuses a peer-buffer that cannot hold one message: a client sending messages over it would
 * be closed with 1013 whenever the next message comes before the peer has read the last one,
 * however fast that peer reads.
 */
export function checkPeerBuffer(config: CoreConfig): void {
  const { peerBuffer, maxMessage } = config;
  if (peerBuffer === null || peerBuffer >= maxMessage) return;
  throw new Error(
    `${formatSize(peerBuffer)} is smaller than max-message (${formatSize(maxMessage)}), so connections sending large messages would be closed; ` +
      'raise it, or leave it unset for the default (4m, or max-message if larger)',
  );
}

/** A rate in bytes per second, `512k` or `512k/s`; 0 = unlimited. */
function parseRate(value: string): number {
  const text = value.trim().replace(/\/s$/i, '');
  if (text === '0') return 0;
  return parseSize(text, KIB, 4 * GIB);
}

export interface CoreOption {
  /** Key in [core] and long flag name. */
  readonly key: string;
  readonly short?: string;
  readonly argument: string;
  readonly help: string;
  apply(config: CoreConfig, value: string, origin: SettingOrigin): void;
}

/** A plain absolute path: the session path is matched against normalised request paths. */
function sessionPath(value: string): string {
  const text = value.trim();
  const normalised = normalisePath(text);
  if ('problem' in normalised) throw new Error(`"${value}": ${normalised.problem}`);
  if (normalised.path !== text || text === '/' || text.endsWith('/')) throw new Error(`"${value}" is not a plain path such as /.websocksy/session (no ., .. or empty segments, no trailing /)`);
  return text;
}

/** Only v2: uWS reads a v2 header before the request, and drops a connection that starts with a v1 line. */
function inboundProxyProtocol(value: string): 'off' | 'v2' {
  const version = parseProxyVersion(value);
  if (version === 'v1') throw new Error('PROXY protocol v1 cannot be read here (uWebSockets.js understands only v2): make the proxy send v2 (HAProxy: send-proxy-v2), or pass the address in X-Forwarded-For (nginx in http mode)');
  return version;
}

function clientAddressHeader(value: string): ForwardedHeader {
  const name = value.trim().toLowerCase();
  if (name === 'x-forwarded-for' || name === 'forwarded' || name === 'none') return name;
  throw new Error(`"${value}" is not x-forwarded-for, forwarded or none`);
}

function listenAddress(value: string): string {
  const text = value.trim();
  if (text === '') throw new Error('the listen address is empty');
  const withPort = /^\[?([^\]]*?)\]?:(\d+)$/.exec(text);
  if (withPort !== null && isIP(text) === 0) {
    throw new Error(`"${value}" holds a port: the address goes in -l/listen (${withPort[1]}), the port in -p/port (${withPort[2]})`);
  }
  return text.replace(/^\[(.*)\]$/, '$1');
}

export const coreOptions: readonly CoreOption[] = [
  {
    key: 'port', short: 'p', argument: 'PORT', help: 'listen port; 0 = any free port (default 8001)',
    apply: (c, v) => { c.port = parsePort(v, { allowZero: true }); },
  },
  {
    key: 'listen', short: 'l', argument: 'HOST', help: 'listen address (default ::, all IPv6 and IPv4 addresses)',
    apply: (c, v) => { c.listen = listenAddress(v); },
  },
  {
    key: 'ping', short: 'k', argument: 'SECONDS', help: 'ping interval; a client that stays silent for a whole interval after a ping is closed; 0 = off (default 30)',
    apply: (c, v) => { c.ping = parseSeconds(v, 0, 86400); },
  },
  {
    key: 'max-message', argument: 'BYTES', help: 'largest message a client may send (default 1m, at most 1g)',
    apply: (c, v) => { c.maxMessage = parseSize(v, 125, GIB); },
  },
  {
    key: 'frame-limit', argument: 'BYTES', help: 'largest run of peer data without a frame boundary (default 1m, at most 512m)',
    apply: (c, v) => { c.frameLimit = parseSize(v, 1, 512 * MIB); },
  },
  {
    key: 'client-buffer', argument: 'BYTES', help: 'data queued towards a client before its peer is paused (default 1m, at most 512m)',
    apply: (c, v) => { c.clientBuffer = parseSize(v, KIB, 512 * MIB); },
  },
  {
    key: 'peer-buffer', argument: 'BYTES', help: 'data queued towards a peer that is not reading before the connection closes with 1013 (default 4m, or max-message if larger; at least max-message, at most 4g)',
    apply: (c, v) => { c.peerBuffer = parseSize(v, KIB, 4 * GIB); },
  },
  {
    key: 'connect-timeout', argument: 'SECONDS', help: 'time allowed to connect to a peer; then the upgrade gets 504 (default 5)',
    apply: (c, v) => { c.connectTimeout = parseSeconds(v, 0.1, 3600); },
  },
  {
    key: 'backend-timeout', argument: 'SECONDS', help: 'time a backend may take to choose a peer; then the upgrade gets 504 (default 5)',
    apply: (c, v) => { c.backendTimeout = parseSeconds(v, 0.1, 3600); },
  },
  {
    key: 'max-handshakes', argument: 'COUNT', help: 'upgrades that may wait for a backend or peer at once; more get 503 (default 1024)',
    apply: (c, v) => { c.maxHandshakes = parseCount(v, 1, 1_000_000); },
  },
  {
    key: 'handshake-timeout', argument: 'SECONDS', help: 'time from a complete upgrade request to its 101; then 504 (default 15)',
    apply: (c, v) => { c.handshakeTimeout = parseSeconds(v, 0.1, 3600); },
  },
  {
    key: 'early-upgrade', argument: '', help: 'answer the 101 as soon as the backend has chosen the peer, and connect it behind the answer (faster handshakes, as websockify does); a peer that cannot be reached then closes the WebSocket with 1014 and the reason, instead of the upgrade being refused with 502/504 (default off; see docs/operations.md)',
    apply: (c, v) => { c.earlyUpgrade = parseBoolean(v); },
  },
  {
    key: 'max-connections', argument: 'COUNT', help: 'WebSocket connections at once, all listeners together; more get 503; 0 = no cap (default 10000)',
    apply: (c, v) => { c.maxConnections = parseCount(v, 0, 10_000_000); },
  },
  {
    key: 'max-connections-per-address', argument: 'COUNT', help: 'WebSocket connections per client address (IPv6 per /64); more get 429; 0 = no cap (default 0)',
    apply: (c, v) => { c.maxConnectionsPerAddress = parseCount(v, 0, 10_000_000); },
  },
  {
    key: 'max-connections-per-identity', argument: 'COUNT', help: 'connections per identity (a tunnel identity, or a user an [auth] section admitted); more are refused; 0 = no cap (default 0)',
    apply: (c, v) => { c.maxConnectionsPerIdentity = parseCount(v, 0, 10_000_000); },
  },
  {
    key: 'idle-timeout', argument: 'SECONDS', help: 'close a connection with no data either way for this long (1000 "idle timeout"); 0 = never (default 0)',
    apply: (c, v) => { c.idleTimeout = parseSeconds(v, 0, 7 * 86400); },
  },
  {
    key: 'drain-timeout', argument: 'SECONDS', help: 'on SIGTERM, stop accepting and let open connections, sessions and tunnel streams finish for up to this long, then close them with 1001 (docs/operations.md); 0 = close at once, as SIGINT does (default 30)',
    apply: (c, v) => { c.drainTimeout = parseSeconds(v, 0, 86400); },
  },
  {
    key: 'rate-limit', argument: 'BYTES/s', help: 'bandwidth of each bridged connection, each way, e.g. 1m/s; 0 = unlimited (default 0)',
    apply: (c, v) => { c.rateLimit = parseRate(v); },
  },
  {
    key: 'identity-rate-limit', argument: 'BYTES/s', help: "bandwidth of all of one identity's bridged connections together, each way; 0 = unlimited (default 0)",
    apply: (c, v) => { c.identityRateLimit = parseRate(v); },
  },
  {
    key: 'trusted-proxies', argument: 'CIDRS', help: 'comma-separated addresses or CIDRs of proxies in front whose word on the client address (PROXY header, X-Forwarded-For) and X-Forwarded-Proto/-Host is believed (default none)',
    apply: (c, v) => { c.trustedProxies = AddressList.parse(v); },
  },
  {
    key: 'proxy-protocol', argument: 'off|v2', help: 'v2: trusted proxies send a PROXY protocol v2 header (HAProxy send-proxy-v2), and a connection from one without it is refused (default off)',
    apply: (c, v) => { c.proxyProtocol = inboundProxyProtocol(v); },
  },
  {
    key: 'client-address-header', argument: 'HEADER', help: 'x-forwarded-for, forwarded or none: the header in which trusted proxies name the client (default x-forwarded-for)',
    apply: (c, v) => { c.clientAddressHeader = clientAddressHeader(v); },
  },
  {
    key: 'allow-peers', argument: 'RULES', help: 'comma-separated destinations backend answers may lead to: tcp:HOST:PORTS, udp:HOST:PORTS, unix:/GLOB, unix-dgram:/GLOB; unset, only peers the config spells out pass (default none)',
    apply: (c, v) => { c.allowPeers = new DestinationAllowList(parseDestinationRules(v), '[core] allow-peers'); },
  },
  {
    key: 'session-path', argument: 'PATH', help: 'where resumable sessions are resumed and driven over HTTP (default /.websocksy/session)',
    apply: (c, v) => { c.sessionPath = sessionPath(v); },
  },
  {
    key: 'session-grace', argument: 'SECONDS', help: 'time a resumable session waits for its client to come back (default 120)',
    apply: (c, v) => { c.sessionGrace = parseSeconds(v, 1, 7 * 86400); },
  },
  {
    key: 'session-buffer', argument: 'BYTES', help: 'peer output a session keeps unacknowledged before the peer is paused (default 4m, at most 1g)',
    apply: (c, v) => { c.sessionBuffer = parseSize(v, 64 * KIB, GIB); },
  },
  {
    key: 'session-limit', argument: 'COUNT', help: 'resumable sessions at once; more get 503 (default 1024)',
    apply: (c, v) => { c.sessionLimit = parseCount(v, 1, 1_000_000); },
  },
  {
    // Read before any other setting, wherever it stands: see pluginFolderOf (plugin-folder.ts).
    key: 'plugins', short: 'P', argument: 'DIR', help: "folder of drop-in plugins (default: the installation's plugins/)",
    apply: (c, v, origin) => {
      if (v.trim() === '') throw new Error('the plugin folder is empty');
      c.plugins = pathFrom(origin, v.trim());
    },
  },
  {
    key: 'auth', argument: 'NAMES', help: 'comma-separated [auth NAME] sections that guard the bridge: any one of them admits (default none; see docs/auth.md)',
    apply: (c, v, origin) => { c.auth = { names: parseAuthNames(v), origin }; },
  },
  {
    key: 'allow-js-engine', argument: '', help: 'start on websocksy\'s slower JS engine when no native uWebSockets.js build loads on this Node (default: refuse to start; see docs/engine.md)',
    apply: (c, v) => { c.allowJsEngine = parseBoolean(v); },
  },
  {
    key: 'workers', short: 'w', argument: 'N|auto', help: 'worker processes serving the same ports, the kernel spreading new connections among them (SO_REUSEPORT); auto = one per CPU; see docs/cluster.md (default 1)',
    apply: (c, v) => { c.workers = parseWorkers(v); },
  },
  {
    key: 'verbose', short: 'v', argument: '', help: 'log debug lines too',
    apply: (c, v) => { c.verbose = parseBoolean(v); },
  },
  {
    key: 'log-format', argument: 'text|json', help: 'text: time, level, message and key=value fields on a line; json: one JSON object per line (time, level, msg and the same fields) for log collectors (default text)',
    apply: (c, v) => { c.logFormat = parseLogFormat(v); },
  },
];


/** A session id carries its worker's number in one byte (session/secrets.ts). */
const MAX_WORKERS = 255;

/** `workers`: a count, or `auto` for one per CPU the process may use. */
function parseWorkers(value: string): number {
  return value.trim() === 'auto' ? Math.min(availableParallelism(), MAX_WORKERS) : parseCount(value, 1, MAX_WORKERS);
}

export function findCoreOption(key: string): CoreOption | undefined {
  return coreOptions.find((option) => option.key === key);
}
