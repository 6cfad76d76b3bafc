/*
 * The session path's WebSocket endpoint: a client comes back here (docs/sessions.md "Resuming
 * over WebSocket"), offers websocksy.session.v1, and names its session in a HELLO.
 */
import { ClientEndpoint, type ClientData } from '../core/client-endpoint.js';
import type { ClientSet } from '../core/client-set.js';
import type { SocketLimits, UpgradeAnswer } from '../core/endpoint.js';
import { LARGEST_PEER_READ, maxBackpressureFor } from '../core/send-policy.js';
import { Refusal } from '../core/refusal.js';
import { offeredProtocols, type ClientRequest } from '../core/request.js';
import { SESSION_SUBPROTOCOL } from './records.js';
import { SessionSocket } from './session-socket.js';
import type { SessionStore } from './session-store.js';
import type { SessionLimits } from './session.js';

/**
 * A resume hands uWS every record the client has not acknowledged at once: up to session-buffer,
 * plus what the peer said after it was paused (a frame of up to frame-limit, one read). uWS must
 * take all of that beside what the live path queues (client-buffer and one read), or it drops a
 * message and the socket closes with 1011 on every resume: with session-buffer above ~2 MiB
 * (the bridge's own limit), a session that filled its buffer while detached could never be
 * resumed.
 */
export function resumeLimits(bridge: SocketLimits, session: SessionLimits): SocketLimits {
  const replay = session.sessionBuffer + session.frameLimit + LARGEST_PEER_READ;
  const replayRoom = maxBackpressureFor(session.clientBuffer + replay, session.frameLimit + LARGEST_PEER_READ);
  return { maxPayloadLength: bridge.maxPayloadLength, maxBackpressure: Math.max(bridge.maxBackpressure, replayRoom) };
}

export class ResumeEndpoint extends ClientEndpoint {
  readonly name = 'session resume';
  readonly limits: SocketLimits;

  constructor(
    clients: ClientSet,
    bridgeLimits: SocketLimits,
    private readonly sessions: SessionStore,
  ) {
    super(clients);
    this.limits = resumeLimits(bridgeLimits, sessions.settings.limits);
  }

  upgrade(request: ClientRequest, answer: UpgradeAnswer<ClientData>): void {
    if (!offeredProtocols(request).includes(SESSION_SUBPROTOCOL)) {
      answer.refuse(new Refusal(400, `Offer the subprotocol ${SESSION_SUBPROTOCOL} to resume a session`, 'session path upgrade without the session subprotocol'));
      return;
    }
    answer.accept({ id: request.id, client: new SessionSocket(request.id, null, this.sessions) }, SESSION_SUBPROTOCOL);
  }
}
