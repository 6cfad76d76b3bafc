/*
 * How much clients may take (docs/limits.md): how many connections at once in all, per client
 * address (IPv6 by /64, address-group.ts) and per identity; how long one may stay idle; how
 * fast each may send and receive. The front admits every WebSocket upgrade once, before any
 * endpoint sees it, and gets a ticket; the ticket is released exactly once, where the
 * connection ends (the socket's close handler, or the upgrade's refusal). The identity is known
 * at the upgrade (an authenticated user) or later (a tunnel's hello): `claimIdentity` counts it
 * then.
 *
 * Idle connections are found by one sweep timer. The data path only stores a coarse timestamp
 * per read or message (`ticket.lastActive = idleClock.now`), which the sweep keeps current.
 */
import { addressGroup } from './address-group.js';
import { Refusal } from './refusal.js';
import { RateGate, TokenBucket } from './token-bucket.js';
import { throttle } from './throttle.js';
import { processOwner, runGuarded } from '../lib/guard.js';
import { log } from '../lib/log.js';
import { LiveSet } from '../lib/live-set.js';

export interface AdmissionLimits {
  /** WebSocket connections at once, all listeners together; 0 = no cap. */
  readonly maxConnections: number;
  /** Per client address (IPv6 per /64); 0 = no cap. */
  readonly maxPerAddress: number;
  /** Per identity; 0 = no cap. */
  readonly maxPerIdentity: number;
  /** A connection with no data either way for this long is closed; 0 = never. */
  readonly idleTimeoutMs: number;
  /** Bytes per second each way per connection; 0 = unlimited. */
  readonly rateLimit: number;
  /** Bytes per second each way for all connections of one identity together; 0 = unlimited. */
  readonly identityRateLimit: number;
}

export const noLimits: AdmissionLimits = { maxConnections: 0, maxPerAddress: 0, maxPerIdentity: 0, idleTimeoutMs: 0, rateLimit: 0, identityRateLimit: 0 };

/** Why a connection was refused or closed by a limit, as the status JSON counts them. */
export type LimitReason = 'max-connections' | 'max-connections-per-address' | 'max-connections-per-identity' | 'handshake-timeout' | 'idle-timeout' | 'rate-limit';

/** What a client that hit a cap is told to wait before it tries again. */
export const RETRY_AFTER_SECONDS = 5;

/** The close for a connection idle for the idle timeout: a normal end (1000), not a shutdown (1001) nor a fault. */
export const IDLE_CLOSE = { code: 1000, reason: 'idle timeout' } as const;

/** A connection's owner, which an idle close goes through (the bridge, so that its log line says websocksy closed). */
export interface IdleCloser {
  close(code: number, reason: string): void;
}

/**
 * The coarse clock the data path stamps activity with: the idle sweep sets it, so a stamp is a
 * property store, not a clock read.
 */
export const idleClock = { now: Date.now() };

interface IdentityShare {
  count: number;
  readonly toPeer: TokenBucket | null;
  readonly toClient: TokenBucket | null;
}

export class AdmissionTicket {
  /** When data last moved either way, on idleClock; from the admission on (read from the clock itself: idleClock may be a sweep old). */
  lastActive = Date.now();
  /** Set when the socket opens; null before and after. */
  closer: IdleCloser | null = null;
  /** client → peer and peer → client shaping; null when no rate limit applies. */
  readonly toPeer: RateGate | null;
  readonly toClient: RateGate | null;
  private identityName: string | null = null;
  private released = false;

  constructor(
    private readonly admission: Admission,
    readonly id: number,
    readonly group: string,
    rateLimit: number,
    identityRateLimit: number,
  ) {
    const limited = rateLimit > 0 || identityRateLimit > 0;
    this.toPeer = limited ? new RateGate(rateLimit > 0 ? new TokenBucket(rateLimit) : null, null) : null;
    this.toClient = limited ? new RateGate(rateLimit > 0 ? new TokenBucket(rateLimit) : null, null) : null;
  }

  get identity(): string | null {
    return this.identityName;
  }

  /** Counts the connection for `identity` (known after the upgrade); a refusal when the identity is at its cap. */
  claimIdentity(identity: string): Refusal | null {
    if (this.released || this.identityName !== null) return null;
    return this.admission.claim(this, identity);
  }

  /** Sets the identity's shared buckets; Admission only. */
  joinIdentity(identity: string, share: IdentityShare): void {
    this.identityName = identity;
    if (this.toPeer !== null) this.toPeer.shared = share.toPeer;
    if (this.toClient !== null) this.toClient.shared = share.toClient;
  }

  /** Counts a close made by the data path for one of the limits (the rate limit). */
  count(reason: LimitReason): void {
    this.admission.count(reason);
  }

  /** The connection ended (closed, refused, or never opened): its place is free. Only the first call counts. */
  release(): void {
    if (this.released) return;
    this.released = true;
    this.closer = null;
    this.admission.free(this);
  }
}

const sweeper = processOwner('idle sweep');

export class Admission {
  private readonly open = new LiveSet<AdmissionTicket>();
  private readonly perGroup = new Map<string, number>();
  private readonly perIdentity = new Map<string, IdentityShare>();
  private readonly refused: Record<LimitReason, number> = {
    'max-connections': 0, 'max-connections-per-address': 0, 'max-connections-per-identity': 0, 'handshake-timeout': 0, 'idle-timeout': 0, 'rate-limit': 0,
  };
  private timer: NodeJS.Timeout | null = null;

  constructor(private current: AdmissionLimits) {
    this.start();
  }

  get limits(): AdmissionLimits {
    return this.current;
  }

  /**
   * A reload's limits: the caps apply to the next admission, counting the connections already
   * open; a connection keeps the rate limit it was admitted with. The idle timeout applies to all.
   */
  reconfigure(limits: AdmissionLimits): void {
    this.stop();
    this.current = limits;
    this.start();
  }

  private start(): void {
    const limits = this.current;
    if (limits.rateLimit > 0 || limits.identityRateLimit > 0) throttle.start();
    if (limits.idleTimeoutMs > 0) {
      const every = Math.max(50, Math.min(1000, limits.idleTimeoutMs / 4));
      this.timer = setInterval(() => runGuarded(sweeper, 'idle sweep', () => this.sweep(Date.now())), every);
      this.timer.unref();
    }
  }

  get size(): number {
    return this.open.size;
  }

  /** How often each limit refused or closed a connection since start-up (the metrics read it when scraped). */
  get limitsHit(): Readonly<Record<LimitReason, number>> {
    return this.refused;
  }

  /** A ticket for a connection from `address`, or the refusal of the first cap it would pass. */
  admit(id: number, address: string, identity: string | null): AdmissionTicket | Refusal {
    const { maxConnections, maxPerAddress, rateLimit, identityRateLimit } = this.limits;
    const retry = { 'Retry-After': String(RETRY_AFTER_SECONDS) };
    if (maxConnections > 0 && this.open.size >= maxConnections) {
      this.count('max-connections');
      return new Refusal('max-connections', 503, 'Server busy, try again later', `${this.open.size} connections open (max-connections = ${maxConnections})`, retry);
    }
    const group = addressGroup(address);
    const fromGroup = this.perGroup.get(group) ?? 0;
    if (maxPerAddress > 0 && fromGroup >= maxPerAddress) {
      this.count('max-connections-per-address');
      return new Refusal('max-connections-per-address', 429, 'Too many connections from your address', `${fromGroup} connections open from ${group} (max-connections-per-address = ${maxPerAddress})`, retry);
    }
    const ticket = new AdmissionTicket(this, id, group, rateLimit, identityRateLimit);
    if (identity !== null) {
      const refusal = this.claim(ticket, identity);
      if (refusal !== null) return refusal;
    }
    this.perGroup.set(group, fromGroup + 1);
    this.open.add(ticket);
    return ticket;
  }

  /** Counts a refusal or close made elsewhere for one of these limits (handshake timeout, rate limit). */
  count(reason: LimitReason): void {
    this.refused[reason]++;
  }

  claim(ticket: AdmissionTicket, identity: string): Refusal | null {
    const { maxPerIdentity, identityRateLimit } = this.limits;
    let share = this.perIdentity.get(identity);
    if (maxPerIdentity > 0 && share !== undefined && share.count >= maxPerIdentity) {
      this.count('max-connections-per-identity');
      return new Refusal('max-connections-per-identity', 429, 'Too many connections for this identity', `identity ${identity} has ${share.count} connections open (max-connections-per-identity = ${maxPerIdentity})`, { 'Retry-After': String(RETRY_AFTER_SECONDS) });
    }
    if (share === undefined) {
      const bucket = (): TokenBucket | null => (identityRateLimit > 0 ? new TokenBucket(identityRateLimit) : null);
      share = { count: 0, toPeer: bucket(), toClient: bucket() };
      this.perIdentity.set(identity, share);
    }
    share.count++;
    ticket.joinIdentity(identity, share);
    return null;
  }

  /** AdmissionTicket.release only. */
  free(ticket: AdmissionTicket): void {
    if (!this.open.delete(ticket)) return;
    const left = (this.perGroup.get(ticket.group) ?? 1) - 1;
    if (left > 0) this.perGroup.set(ticket.group, left);
    else this.perGroup.delete(ticket.group);
    const identity = ticket.identity;
    const share = identity === null ? undefined : this.perIdentity.get(identity);
    if (identity === null || share === undefined) return;
    share.count--;
    if (share.count <= 0) this.perIdentity.delete(identity);
  }

  /** Closes the open connections that have moved no data since `now - idle-timeout`. */
  sweep(now: number): void {
    idleClock.now = now;
    const { idleTimeoutMs } = this.limits;
    if (idleTimeoutMs === 0) return;
    for (const ticket of this.open) {
      const closer = ticket.closer;
      if (closer === null || now - ticket.lastActive < idleTimeoutMs) continue;
      ticket.closer = null;
      this.count('idle-timeout');
      log.info('idle timeout', { id: ticket.id, idle_seconds: ((now - ticket.lastActive) / 1000).toFixed(1), limit_seconds: idleTimeoutMs / 1000 });
      runGuarded({ logFields: { id: ticket.id }, abortAfterFault: () => ticket.release() }, 'idle close', () => closer.close(IDLE_CLOSE.code, IDLE_CLOSE.reason));
    }
  }

  stop(): void {
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
    throttle.stop();
  }

  /** For the status JSON: what is held now against each cap, and how often each limit said no. */
  status(): object {
    const { maxConnections, maxPerAddress, maxPerIdentity, idleTimeoutMs, rateLimit, identityRateLimit } = this.limits;
    let busiest = 0;
    for (const count of this.perGroup.values()) if (count > busiest) busiest = count;
    let busiestIdentity = 0;
    for (const share of this.perIdentity.values()) if (share.count > busiestIdentity) busiestIdentity = share.count;
    return {
      connections: this.open.size,
      maxConnections,
      addresses: this.perGroup.size,
      busiestAddress: busiest,
      maxConnectionsPerAddress: maxPerAddress,
      identities: this.perIdentity.size,
      busiestIdentity,
      maxConnectionsPerIdentity: maxPerIdentity,
      idleTimeoutSeconds: idleTimeoutMs / 1000,
      rateLimit,
      identityRateLimit,
      throttled: throttle.size,
      refused: { ...this.refused },
    };
  }
}
