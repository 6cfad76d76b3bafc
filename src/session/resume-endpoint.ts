/*
 * The session path's WebSocket endpoint: a client comes back here (docs/sessions.md "Resuming
 * over WebSocket"), offers websocksy.session.v1, and names its session in a HELLO.
 */
import { ClientEndpoint, type ClientData } from '../core/client-endpoint.js';
import type { ClientSet } from '../core/client-set.js';
import type { SocketLimits, UpgradeAnswer } from '../core/endpoint.js';
import { Refusal } from '../core/refusal.js';
import { headerValue, offeredProtocols, type ClientRequest } from '../core/request.js';
import { SESSION_SUBPROTOCOL } from './records.js';
import { SessionSocket } from './session-socket.js';
import type { SessionStore } from './session-store.js';

export class ResumeEndpoint extends ClientEndpoint {
  readonly name = 'session resume';

  /**
   * `limits` are the bridge's: a resume's replay is paced by the socket's drain
   * (Session.replay), so it never queues more than a live session does.
   */
  constructor(
    clients: ClientSet,
    readonly limits: SocketLimits,
    private readonly sessions: SessionStore,
  ) {
    super(clients);
  }

  upgrade(request: ClientRequest, answer: UpgradeAnswer<ClientData>): void {
    if (!offeredProtocols(request).includes(SESSION_SUBPROTOCOL)) {
      answer.refuse(new Refusal('bad-handshake', 400, `Offer the subprotocol ${SESSION_SUBPROTOCOL} to resume a session`, 'session path upgrade without the session subprotocol'));
      return;
    }
    const origin = { path: request.path + request.search, host: headerValue(request, 'host') ?? '', clientAddress: request.clientAddress };
    answer.accept({ id: request.id, client: new SessionSocket(request.id, null, this.sessions, origin) }, SESSION_SUBPROTOCOL);
  }
}
