/*
 * The sessions of one listener: made when a resumable peer's client asks for one, found again
 * by id and secret (a HELLO over WebSocket, a bearer secret over HTTP), listed for the status
 * JSON, and finished together at shutdown. Their number is bounded by session-limit.
 */
import type { RelayTarget } from '../cluster/sibling-relay.js';
import { nodeName } from '../cluster/registry.js';
import type { Siblings } from '../cluster/siblings.js';
import type { PeerConnection } from '../core/peer.js';
import { Refusal } from '../core/refusal.js';
import { runGuarded } from '../lib/guard.js';
import { ResumeRefusal } from './resume-refusal.js';
import { SESSION_SUBPROTOCOL } from './records.js';
import { looksLikeSessionId, newSecret, newSessionId, secretMatches, nodeOfSessionId } from './secrets.js';
import { Session, type SessionDescription, type SessionLimits, type SessionStatus } from './session.js';
import type { HelloHandler, OpeningSession, SessionSocket } from './session-socket.js';

export interface SessionSettings {
  /** Where sessions are resumed and driven over HTTP. */
  readonly path: string;
  readonly maxSessions: number;
  readonly limits: SessionLimits;
}

/** The sessions in numbers, for the metrics. */
export interface SessionCounts {
  readonly attached: number;
  readonly detached: number;
  /** Since start-up: the ended sessions' resumes and the live ones'. */
  readonly resumes: number;
  /** Records kept for the clients to replay (what session-buffer bounds), in bytes. */
  readonly bufferedBytes: number;
}

export class SessionStore implements HelloHandler {
  private readonly sessions = new Map<string, Session>();
  /** Resumes of the sessions that ended; the live ones keep their own count. */
  private endedResumes = 0;
  private readonly forget = (session: Session): void => {
    if (this.sessions.delete(session.id)) this.endedResumes += session.resumes;
  };

  /** `siblings`: the cluster's other nodes, which hold the sessions they made; null outside a cluster. */
  constructor(
    readonly settings: SessionSettings,
    private readonly siblings: Siblings | null = null,
  ) {}

  get size(): number {
    return this.sessions.size;
  }

  /** Why a new session cannot be made now, or null. */
  full(): Refusal | null {
    const { maxSessions } = this.settings;
    if (this.sessions.size < maxSessions) return null;
    return new Refusal('session-limit', 503, 'Too many sessions', `${this.sessions.size} sessions, session-limit ${maxSessions}`, { 'Retry-After': '5' });
  }

  /** A new session for `peer`, and the WELCOME (with the secret) for the transport that opens it. */
  create(description: SessionDescription, peer: PeerConnection): OpeningSession {
    const node = this.siblings?.self ?? null;
    let id = newSessionId(node);
    while (this.sessions.has(id)) id = newSessionId(node);
    const secret = newSecret();
    const session = new Session(id, secret, description, peer, this.settings.limits, this.forget);
    this.sessions.set(id, session);
    return { session, welcome: session.welcome(secret.text, this.settings.path) };
  }

  /**
   * Where session `id` is answered for when another node made it: that node's link, or the
   * refusal to give when no node can be reached for it. Null: this node answers (its own
   * session, or an id that names no node).
   */
  siblingHolding(id: unknown): RelayTarget | ResumeRefusal | null {
    const { siblings } = this;
    if (siblings === null || typeof id !== 'string' || !looksLikeSessionId(id)) return null;
    const node = nodeOfSessionId(id);
    if (node === siblings.self) return null;
    const link = siblings.linkOf(node);
    if (link !== null) return { siblings, node, link, subprotocol: SESSION_SUBPROTOCOL, highWater: this.settings.limits.clientBuffer };
    // An up-to-date map without the node: it died, with its sessions. An old one (Redis away past
    // the TTL) cannot tell, and the session may well live: the client is to try again, not give up.
    if (siblings.registry.fresh) return new ResumeRefusal('no-session', `no such session: ${nodeName(node)}, which made it, is not in the cluster now`);
    return new ResumeRefusal('unavailable', `${nodeName(node)} holds the session, and this server's map of the cluster is out of date (Redis unreachable): try again`);
  }

  /** The session `id` names if `secret` is its secret; `takeover` lets it be taken from another transport. */
  authorize(id: unknown, secret: unknown, takeover: boolean, transport: 'websocket' | 'http'): Session | ResumeRefusal {
    if (typeof id !== 'string' || typeof secret !== 'string') return new ResumeRefusal('bad-hello', 'session and secret must be strings');
    const session = looksLikeSessionId(id) ? this.sessions.get(id) : undefined;
    if (session === undefined || session.finished) return new ResumeRefusal('no-session', 'no such session (never made, expired or ended)');
    if (!secretMatches(session.secret.digest, secret)) return new ResumeRefusal('wrong-secret', 'the secret does not match');
    const attached = session.attached;
    // Polls follow each other on one HTTP attachment; any other meeting of two transports needs takeover.
    const sameHttpClient = attached?.kind === 'http' && transport === 'http';
    if (attached !== null && !takeover && !sameHttpClient) return new ResumeRefusal('attached', `the session is attached to a ${attached.kind} transport`);
    return session;
  }

  resume(socket: SessionSocket, hello: Record<string, unknown>): ResumeRefusal | null {
    if (hello['v'] !== 1) return new ResumeRefusal('bad-hello', `HELLO version ${JSON.stringify(hello['v']) ?? 'missing'}, this server speaks 1`);
    const takeover = hello['takeover'] ?? false;
    if (typeof takeover !== 'boolean') return new ResumeRefusal('bad-hello', 'takeover must be true or false');
    const found = this.authorize(hello['session'], hello['secret'], takeover, 'websocket');
    if (found instanceof ResumeRefusal) return found;
    const received = hello['received'];
    if (typeof received !== 'number' || !found.log.canAck(received)) {
      return new ResumeRefusal('bad-hello', `received ${JSON.stringify(received) ?? 'missing'}: ${found.log.acked} to ${found.log.sent} bytes were possible`);
    }
    socket.bind(found, received, found.welcome(null, this.settings.path));
    return null;
  }

  counts(): SessionCounts {
    let attached = 0;
    let resumes = this.endedResumes;
    let bufferedBytes = 0;
    for (const session of this.sessions.values()) {
      if (session.attached !== null) attached++;
      resumes += session.resumes;
      bufferedBytes += session.log.kept;
    }
    return { attached, detached: this.sessions.size - attached, resumes, bufferedBytes };
  }

  status(): SessionStatus[] {
    return [...this.sessions.values()].map((session) => session.status());
  }

  /** Every client is told `code`; every peer gets what its session took, then closes. */
  shutdown(code: number, reason: string): void {
    for (const session of [...this.sessions.values()]) runGuarded(session, 'shutdown', () => session.shutdown(code, reason));
  }

  /** The operator ends session `id` (Session.endByOperator); false when there is no such session. */
  endByOperator(id: string, code: number, reason: string): boolean {
    const session = this.sessions.get(id);
    if (session === undefined || session.finished) return false;
    runGuarded(session, 'operator close', () => session.endByOperator(code, reason));
    return true;
  }
}
