/*
 * The tunnel server's sessions: which transport carries which session, the grace period of a
 * session whose transport dropped, the heartbeat timeout of an attached one, and how many
 * sessions one identity may hold (`[tunnel] max-sessions`). Each session may queue up to the
 * send budget toward its client, so an identity's sessions are bounded: a new one beyond the
 * bound ends the identity's oldest detached session, or is refused when all are attached.
 */
import { log } from '../lib/log.js';
import type { Transport } from './mux.js';
import type { TunnelServerConfig } from './options.js';
import type { RemoteListeners } from './remote-listeners.js';
import type { ServerSession } from './server-session.js';

export class ServerSessions {
  private readonly byId = new Map<string, ServerSession>();
  private readonly byTransport = new Map<Transport, ServerSession>();

  /** `identityIdle`: told when the last session of an identity here has ended. */
  constructor(
    private readonly config: TunnelServerConfig,
    private readonly listeners: RemoteListeners,
    private readonly identityIdle: (identity: string) => void,
  ) {}

  /** This process holds a session of `identity`. */
  holds(identity: string): boolean {
    for (const owner of this.byId.values()) if (owner.identity === identity) return true;
    return false;
  }

  get size(): number {
    return this.byId.size;
  }

  /** Sessions with a transport. */
  get attached(): number {
    return this.byTransport.size;
  }

  values(): IterableIterator<ServerSession> {
    return this.byId.values();
  }

  get(id: string): ServerSession | undefined {
    return this.byId.get(id);
  }

  ownerOf(transport: Transport): ServerSession | undefined {
    return this.byTransport.get(transport);
  }

  /**
   * Makes room for one more session of `identity`: at the bound, its oldest detached sessions
   * end. Returns why the new session is refused when every one it holds is attached, else null.
   */
  makeRoomFor(identity: string): string | null {
    const limit = this.config.maxSessions;
    const mine = [...this.byId.values()].filter((owner) => owner.identity === identity);
    const detached = mine.filter((owner) => owner.transport === null).sort((a, b) => a.createdAt.getTime() - b.createdAt.getTime());
    let count = mine.length;
    while (count >= limit) {
      const oldest = detached.shift();
      if (oldest === undefined) return `identity ${identity} already has ${count} attached sessions (max-sessions = ${limit})`;
      log.warn('session replaced', { ...oldest.logFields, why: `a new session of ${identity} needs its place (max-sessions = ${limit})` });
      this.end(oldest, `session ended: a newer session of the same identity took its place (max-sessions = ${limit})`);
      count--;
    }
    return null;
  }

  add(owner: ServerSession): void {
    this.byId.set(owner.id, owner);
  }

  attach(owner: ServerSession, transport: Transport, client: string): void {
    if (owner.transport !== null) this.detach(owner, 'replaced by a new connection of the same session');
    owner.stopGrace();
    owner.detachedAt = null;
    owner.transport = transport;
    owner.clientAddress = client;
    this.byTransport.set(transport, owner);
    owner.session.attach(transport);
  }

  /**
   * The session's transport is gone (closed, failed, silent). A session told to go away ends:
   * its client never resumes it. Any other waits out its grace period.
   */
  lost(owner: ServerSession, reason: string): void {
    if (owner.goneAway) this.end(owner, reason);
    else this.detach(owner, reason);
  }

  /** Drops the session's transport and starts its grace period. */
  detach(owner: ServerSession, reason: string): void {
    const transport = owner.transport;
    if (transport === null) return;
    this.byTransport.delete(transport);
    transport.close(reason);
    owner.transport = null;
    owner.session.detach();
    owner.detachedAt = Date.now();
    log.info('tunnel detached', { ...owner.logFields, streams: owner.session.streams.size, why: reason, grace: this.config.graceSeconds });
    owner.startGrace(this.config.graceSeconds, () => this.expire(owner));
  }

  private expire(owner: ServerSession): void {
    log.warn('session expired', { ...owner.logFields, streams: owner.session.streams.size });
    this.end(owner, `session expired: the tunnel was down longer than the ${this.config.graceSeconds} s grace period`);
  }

  /** Ends the session: its transport closes, its streams are reset, its listeners closed. */
  end(owner: ServerSession, reason: string): void {
    // Forgotten first: a stream reset below may end a session told to go away (its last stream), which is this call.
    if (!this.byId.delete(owner.id)) return;
    owner.stopGrace();
    // Reset while the transport (if any) is still there: the client learns why at once.
    owner.session.resetAll(reason);
    const transport = owner.transport;
    if (transport !== null) {
      this.byTransport.delete(transport);
      owner.transport = null;
      owner.session.detach();
      transport.close(reason);
    }
    this.listeners.release(owner);
    if (!this.holds(owner.identity)) this.identityIdle(owner.identity);
  }

  /** Detaches every session whose client has been silent longer than the heartbeat timeout. */
  sweep(now: number): void {
    for (const owner of this.byId.values()) {
      if (owner.transport !== null && now - owner.session.lastHeard > this.config.timeoutMs) {
        this.lost(owner, `no heartbeat for ${this.config.timeoutMs} ms`);
      }
    }
  }

  /**
   * The session through which to reach `identity` now: the most recent one with a live
   * transport, or null (an HTTP route answers 503 rather than wait out a grace period).
   */
  attachedSessionOf(identity: string): ServerSession | null {
    let found: ServerSession | null = null;
    for (const owner of this.byId.values()) {
      if (owner.identity === identity && owner.transport !== null && (found === null || owner.createdAt >= found.createdAt)) found = owner;
    }
    return found;
  }

  endAll(reason: string): void {
    for (const owner of [...this.byId.values()]) this.end(owner, reason);
  }
}
