/*
 * A session's WebSocket transport: one upgraded socket, either the one that opened the session
 * (it gets the WELCOME with the secret at once) or one at the session path that must say HELLO
 * first (within HELLO_TIMEOUT_MS). Each WebSocket message is one record. A protocol error ends
 * this socket with 4400; the session itself only detaches and waits for its client.
 */
import { SiblingRelay, type RelayOrigin, type RelayTarget } from '../cluster/sibling-relay.js';
import { idleClock, type AdmissionTicket } from '../core/admission.js';
import type { BridgedClient, ClientSocket } from '../core/endpoint.js';
import { sendMessage } from '../core/send-policy.js';
import { runGuarded, type Guarded } from '../lib/guard.js';
import { log } from '../lib/log.js';
import { closeReason } from '../lib/text.js';
import { jsonRecord, readJson, RecordError, RecordType } from './records.js';
import { ResumeRefusal } from './resume-refusal.js';
import type { Session, SessionTransport } from './session.js';

const HELLO_TIMEOUT_MS = 10_000;

/** Finds the session a HELLO names and attaches the socket to it, or says why not. */
export interface HelloHandler {
  resume(socket: SessionSocket, hello: Record<string, unknown>): ResumeRefusal | null;
  /** Where to relay a HELLO for `session`, which another node of the cluster made, or why it cannot be; null when it is this node's to answer. */
  siblingHolding(session: unknown): RelayTarget | ResumeRefusal | null;
}

/** How the socket that opened a session starts it: the WELCOME it is sent first. */
export interface OpeningSession {
  readonly session: Session;
  readonly welcome: Buffer;
}

export class SessionSocket implements BridgedClient, SessionTransport {
  readonly kind = 'websocket';
  heard = true;
  private ws: ClientSocket | null = null;
  private session: Session | null = null;
  private helloTimer: NodeJS.Timeout | null = null;
  private ticket: AdmissionTicket | null = null;
  /** The HELLO named a session another node holds: everything goes there. */
  private relay: SiblingRelay | null = null;

  /** `origin`: how a resuming client reached this node, for a relay to the node holding its session. */
  constructor(
    readonly connectionId: number,
    private readonly opening: OpeningSession | null,
    private readonly hello: HelloHandler,
    private readonly origin: RelayOrigin | null = null,
  ) {}

  get logFields(): { id: number; session?: string; to?: string } {
    if (this.relay !== null) return { id: this.connectionId, ...this.relay.relayFields };
    return this.session === null ? { id: this.connectionId } : { id: this.connectionId, session: this.session.id };
  }

  open(ws: ClientSocket, ticket: AdmissionTicket | null): void {
    this.ws = ws;
    this.ticket = ticket;
    if (this.opening !== null) this.bind(this.opening.session, 0, this.opening.welcome);
    else this.helloTimer = setTimeout(() => runGuarded(this, 'session hello timeout', () => this.refuse(new ResumeRefusal('bad-hello', `no HELLO within ${HELLO_TIMEOUT_MS / 1000} s`))), HELLO_TIMEOUT_MS);
  }

  /** Attaches to `session` (the store checked the secret and the count): WELCOME, then the replay. */
  bind(session: Session, clientReceived: number, welcome: Buffer): void {
    if (this.helloTimer !== null) clearTimeout(this.helloTimer);
    this.helloTimer = null;
    this.session = session;
    session.attach(this, clientReceived, welcome);
  }

  onClientMessage(message: ArrayBuffer, isBinary: boolean): void {
    this.heard = true;
    if (this.relay !== null) {
      this.relay.fromClient(message, isBinary);
      return;
    }
    const bytes = new Uint8Array(message);
    if (bytes.length === 0 || !isBinary) {
      this.refuse(new ResumeRefusal('bad-hello', bytes.length === 0 ? 'an empty message is not a record' : 'records travel in binary messages, not text'));
      return;
    }
    const type = bytes[0] as number;
    const body = bytes.subarray(1);
    const session = this.session;
    try {
      if (session !== null) {
        session.onSocketRecord(this, type, body);
        return;
      }
      if (this.ws === null) return;
      if (type !== RecordType.hello) throw new RecordError(`the first record must be a HELLO, not type ${type}`);
      const hello = readJson(body, 'the HELLO');
      const sibling = this.origin === null ? null : this.hello.siblingHolding(hello['session']);
      if (sibling instanceof ResumeRefusal) {
        this.refuse(sibling);
        return;
      }
      if (sibling !== null && this.origin !== null) {
        this.relayTo(this.ws, this.origin, sibling, bytes);
        return;
      }
      const refusal = this.hello.resume(this, hello);
      if (refusal !== null) this.refuse(refusal);
    } catch (error) {
      if (!(error instanceof RecordError)) throw error;
      this.refuse(new ResumeRefusal('bad-hello', error.message));
    }
  }

  private relayTo(ws: ClientSocket, origin: RelayOrigin, target: RelayTarget, hello: Uint8Array): void {
    if (this.helloTimer !== null) clearTimeout(this.helloTimer);
    this.helloTimer = null;
    this.relay = new SiblingRelay(ws, this, origin, target, hello);
    log.info('session relayed', this.logFields);
  }

  /** An ERROR record, then the close: the client learns why before the socket ends. */
  refuse(refusal: ResumeRefusal): void {
    const ws = this.ws;
    if (ws === null) return;
    const session = this.session;
    this.session = null;
    log.info('session socket refused', { ...this.logFields, code: refusal.code, why: refusal.message });
    session?.detach(this, `protocol error: ${refusal.message}`);
    ws.cork(() => {
      ws.send(jsonRecord(RecordType.error, { error: refusal.error, message: refusal.message }), true);
      ws.end(refusal.code, closeReason(refusal.message));
    });
    this.ws = null;
  }

  onClientDrain(): void {
    this.relay?.clientDrained();
    this.session?.onTransportDrain();
  }

  onClientPong(): void {
    this.heard = true;
  }

  onClientClosed(code: number): void {
    this.ws = null;
    this.relay?.clientClosed(code);
    if (this.helloTimer !== null) clearTimeout(this.helloTimer);
    this.helloTimer = null;
    this.session?.detach(this, `client closed the WebSocket (${code})`);
  }

  ownerOf(socketClosed: boolean): Guarded {
    return socketClosed ? { logFields: this.logFields, abortAfterFault: () => this.session?.detach(this, 'internal error') } : this;
  }

  abortAfterFault(reason: string): void {
    this.close(1011, reason);
  }

  deliver(record: Buffer): void {
    if (this.ws === null) return;
    if (this.ticket !== null) this.ticket.lastActive = idleClock.now;
    sendMessage(this.ws, record, true);
  }

  batch(body: () => void): void {
    if (this.ws !== null) this.ws.cork(body);
    else body();
  }

  get queued(): number {
    return this.ws?.getBufferedAmount() ?? 0;
  }

  /** The session is done with this socket (ended, or taken over by another transport). */
  end(code: number, reason: string): void {
    this.session = null;
    this.close(code, reason);
  }

  close(code: number, reason: string): void {
    const ws = this.ws;
    this.ws = null;
    if (this.relay !== null) this.relay.endBoth(code, reason);
    else ws?.end(code, closeReason(reason));
  }

  ping(): void {
    this.ws?.ping('PING');
  }

  terminate(): void {
    const ws = this.ws;
    this.ws = null;
    ws?.close();
  }
}
