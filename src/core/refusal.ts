/*
 * An HTTP answer that refuses a request or an upgrade: why, as one of a fixed set of names (the
 * metrics count refused handshakes by it, so it must never hold anything a client chose), the
 * status, a short body that says what went wrong without internals, the detail for the log only,
 * and any headers the status needs (Allow, Sec-WebSocket-Version, Retry-After). Thrown by whoever
 * decides, answered by the front.
 */
import { STATUS_CODES } from 'node:http';

/** RFC 9110's names where Node 20 still has older ones (413 Payload Too Large); node:http's for the rest. */
const REASONS: Readonly<Record<number, string>> = {
  400: 'Bad Request', 403: 'Forbidden', 404: 'Not Found', 405: 'Method Not Allowed', 408: 'Request Timeout',
  413: 'Content Too Large', 414: 'URI Too Long', 426: 'Upgrade Required', 431: 'Request Header Fields Too Large',
  500: 'Internal Server Error', 501: 'Not Implemented', 502: 'Bad Gateway', 503: 'Service Unavailable', 504: 'Gateway Timeout',
};

/** Every reason a request or upgrade is refused for; docs/operations.md ("Metrics") explains the handshakes' ones. */
export type RefusalReason =
  // The request itself
  | 'bad-request' | 'bad-handshake' | 'method' | 'websocket-only' | 'not-implemented' | 'too-large' | 'not-found' | 'conflict'
  // Who asks, and where to
  | 'credentials' | 'forbidden' | 'auth-busy' | 'peer-denied'
  // Limits (the first three as websocksy_limits_hit_total names them)
  | 'max-connections' | 'max-connections-per-address' | 'max-connections-per-identity' | 'pending-handshakes' | 'session-limit' | 'tunnel-hello-limit'
  // The server's state
  | 'shutting-down' | 'reconfigured' | 'handshake-timeout' | 'internal' | 'cluster-map-stale' | 'host-limit'
  // Finding and reaching the peer
  | 'no-peer' | 'backend-failed' | 'backend-timeout' | 'bad-peer-config' | 'peer-unreachable' | 'peer-timeout' | 'module-refused';

export class Refusal extends Error {
  constructor(
    readonly reason: RefusalReason,
    readonly status: number,
    readonly body: string,
    readonly detail: string,
    readonly headers: Readonly<Record<string, string>> = {},
  ) {
    super(detail);
    this.name = 'Refusal';
  }

  /** `404 Not Found`, as a status line wants it. */
  get statusLine(): string {
    return `${this.status} ${REASONS[this.status] ?? STATUS_CODES[this.status] ?? 'Error'}`;
  }
}

/** What every listener answers once the server is stopping: 503, since nothing was done, so a client or load balancer may try again elsewhere. */
export function shuttingDownRefusal(): Refusal {
  return new Refusal('shutting-down', 503, 'Shutting down', 'shutting down');
}

/**
 * A peer or upstream that could not be connected because this host ran out (isHostLimit: EMFILE
 * and the like): 503 and Retry-After, as for any overload, rather than a 502 that blames the peer.
 */
export function hostLimitRefusal(detail: string): Refusal {
  return new Refusal('host-limit', 503, 'Service unavailable: this server is out of resources', `${detail} (a limit of this host, not the peer's: docs/limits.md)`, { 'Retry-After': '1' });
}
