/*
 * One resumable session: a peer connection that outlives its client's transport
 * (docs/sessions.md). The peer's output is framed as usual and kept as records until the
 * client acknowledges it, so a client that comes back gets exactly what it missed; past
 * `sessionBuffer` unacknowledged bytes the peer is paused, never killed and never dropped. The
 * client's data is counted as it is taken, and acknowledged while the peer keeps up with it.
 * At most one transport (a WebSocket or an HTTP poller) is attached at a time; without one,
 * the session waits `grace` before it finishes its peer.
 */
import { WsCloseCode, WsOperation, type FramingDefinition } from '../core/api.js';
import { PEER_LINGER_MS } from '../core/bridge.js';
import { FramingFailure, PeerFramer, type FrameSink } from '../core/framer.js';
import type { PeerConnection, PeerEvents } from '../core/peer.js';
import { addressFields } from '../core/request.js';
import { notReading, SendOverflowError } from '../core/send-policy.js';
import { errorCode, errorMessage } from '../lib/errors.js';
import { noteFault, reportFault, runGuarded, type Guarded } from '../lib/guard.js';
import { log } from '../lib/log.js';
import { ackRecord, isDataRecord, jsonRecord, makeRecord, readAck, RecordError, RecordType } from './records.js';
import { ReplayLog } from './replay-log.js';
import type { SessionSecret } from './secrets.js';

export interface SessionLimits {
  readonly maxMessage: number;
  readonly frameLimit: number;
  /** Client bytes waiting for the peer before the session ends (a client that ignored `window`). */
  readonly peerBuffer: number;
  /** Bytes queued in an attached WebSocket before the peer is paused. */
  readonly clientBuffer: number;
  /** Peer output kept unacknowledged before the peer is paused. */
  readonly sessionBuffer: number;
  readonly graceMs: number;
}

/** Where a session's records go while a client is attached. */
export interface SessionTransport {
  readonly kind: 'websocket' | 'http';
  /** A record for the client (its WebSocket form: type byte and body). */
  deliver(record: Buffer): void;
  /** Runs `body` with the transport's writes batched into one. */
  batch(body: () => void): void;
  /** Bytes queued toward the client and not yet written. */
  readonly queued: number;
  /** The session is done with this transport. */
  end(code: number, reason: string): void;
}

export interface SessionDescription {
  /** The id of the connection that opened the session, for the log. */
  readonly connectionId: number;
  readonly clientAddress: string;
  /** The TCP peer: the proxy in front, when one named the client. */
  readonly remoteAddress: string;
  readonly endpoint: string;
  /** The application subprotocol the backend chose, '' for none. */
  readonly protocol: string;
  readonly framing: FramingDefinition;
  readonly framingConfig: string | null;
}

export interface SessionStatus {
  readonly session: string;
  readonly state: 'attached' | 'detached' | 'ending';
  readonly transport: 'websocket' | 'http' | null;
  readonly client: string;
  /** The proxy the client came through, when one named it. */
  readonly via?: string | undefined;
  readonly endpoint: string;
  readonly peer: string;
  readonly since: string;
  readonly detachedSince: string | null;
  /** Data bytes sent to the client, and taken from it. */
  readonly bytesToClient: number;
  readonly bytesToPeer: number;
  /** Memory of the records sent and not yet acknowledged: what session-buffer bounds. */
  readonly buffered: number;
  readonly peerPaused: boolean;
  readonly resumes: number;
}

type Phase = 'live' | 'ending' | 'finishing' | 'done';

/** Client data acknowledged once this much arrived since the last ACK, or after ACK_DELAY_MS. */
const ACK_DELAY_MS = 100;
/** While the peer is behind, a held-back ACK is looked at again this often. */
const ACK_RETRY_MS = 50;

let framingSession: Session | null = null;
let framingChunk: Buffer | null = null;

function pushFraming(): void {
  framingSession?.frameChunk(framingChunk as Buffer);
}

export class Session implements PeerEvents, FrameSink, Guarded {
  readonly log = new ReplayLog();
  /** Client data bytes taken into the session. */
  received = 0;
  resumes = 0;
  private readonly framer: PeerFramer;
  private transport: SessionTransport | null = null;
  private phase: Phase = 'live';
  private started = false;
  private everAttached = false;
  private peerPaused = false;
  private peerUnusable = false;
  private ackSent = 0;
  /** Data offset up to which the attached transport has been given records. */
  private deliveredTo = 0;
  /**
   * The client data offset of the attached WebSocket's next data record. Records over a
   * WebSocket carry no offset: they continue from the `received` of its WELCOME, which a POST
   * of the transport before it, still being read at the takeover, may have passed since.
   */
  private socketOffset = 0;
  /** The attached transport has been given the END. */
  private endDelivered = false;
  private ackTimer: NodeJS.Timeout | null = null;
  /**
   * An ACK that is due goes out a loop turn later, never from inside the client's message: uWS
   * cuts a TLS WebSocket (1006) that is written to while a large read of it is being taken apart
   * (docs/engine.md, "Writing inside a TLS read"), which a fast upload over wss:// is.
   */
  private ackSoon: NodeJS.Immediate | null = null;
  private graceTimer: NodeJS.Timeout | null = null;
  private endRecord: Buffer | null = null;
  private endCode = 0;
  private endReason = '';
  private readonly openedAt = Date.now();
  private detachedAt: number | null = Date.now();
  private framingFailure: Error | null = null;

  constructor(
    readonly id: string,
    readonly secret: SessionSecret,
    readonly description: SessionDescription,
    readonly peer: PeerConnection,
    private readonly limits: SessionLimits,
    private readonly onDone: (session: Session) => void,
  ) {
    this.framer = new PeerFramer(description.framing, description.framingConfig, limits.frameLimit, this);
  }

  get logFields(): { id: number; session: string } {
    return { id: this.description.connectionId, session: this.id };
  }

  /** What a client keeps unacknowledged at most (docs/sessions.md "window"). */
  get window(): number {
    return Math.floor(this.limits.peerBuffer / 2);
  }

  /** A client acknowledges after this much data. */
  get ackBytes(): number {
    return Math.max(4096, Math.floor(this.limits.sessionBuffer / 8));
  }

  get attached(): SessionTransport | null {
    return this.transport;
  }

  get finished(): boolean {
    return this.phase === 'finishing' || this.phase === 'done';
  }

  /** The WELCOME for a transport: with the secret for the one that opened the session. */
  welcome(secret: string | null, path: string): Buffer {
    return jsonRecord(RecordType.welcome, {
      v: 1,
      session: this.id,
      ...(secret === null ? {} : { secret }),
      resumed: secret === null,
      protocol: this.description.protocol,
      received: this.received,
      path,
      grace: this.limits.graceMs / 1000,
      window: this.window,
      ackBytes: this.ackBytes,
    });
  }

  /**
   * Attaches `transport` (a takeover ends the one attached before) and sends it `welcome`,
   * then every record after the client's `clientReceived` (checked with log.canAck).
   */
  attach(transport: SessionTransport, clientReceived: number, welcome: Buffer | null): void {
    const previous = this.transport;
    this.transport = transport;
    if (previous !== null && previous !== transport) previous.end(4000, 'taken over');
    if (this.graceTimer !== null) clearTimeout(this.graceTimer);
    this.graceTimer = null;
    if (this.detachedAt !== null && this.everAttached) {
      this.resumes++;
      log.info('session resumed', { ...this.logFields, transport: transport.kind, replay: this.log.sent - clientReceived, detached_seconds: ((Date.now() - this.detachedAt) / 1000).toFixed(1) });
    }
    this.detachedAt = null;
    this.everAttached = true;
    this.log.ack(clientReceived);
    this.deliveredTo = clientReceived;
    this.socketOffset = this.received;
    this.endDelivered = false;
    if (welcome !== null) transport.deliver(welcome);
    this.replay();
    if (!this.started) {
      this.started = true;
      this.peer.start(this);
    }
    this.updatePeerFlow();
    this.completeIfAcknowledged();
  }

  /** `transport` is gone (closed, cut, or silent): the session waits for its client. */
  detach(transport: SessionTransport, why: string): void {
    if (this.transport !== transport) return;
    this.transport = null;
    if (this.finished) return;
    log.info('session detached', { ...this.logFields, transport: transport.kind, why, buffered: this.log.unacked, grace: this.limits.graceMs / 1000 });
    this.startGrace();
    this.updatePeerFlow();
  }

  /** A session opened over HTTP: its peer starts now, and its client has `grace` to come and poll. */
  openDetached(): void {
    this.started = true;
    this.peer.start(this);
    this.startGrace();
  }

  private startGrace(): void {
    this.detachedAt = Date.now();
    this.graceTimer = setTimeout(() => runGuarded(this, 'session grace', () => this.expire()), this.limits.graceMs);
  }

  /** The END record once the peer is done (an HTTP answer carries it after the data), else null. */
  get pendingEnd(): Buffer | null {
    return this.endRecord;
  }

  /**
   * One record from `transport`, a WebSocket: ignored unless it is the one attached (a socket
   * taken over may still deliver what was in flight); data the session already has (taken from
   * a POST that landed after the takeover) is skipped, as a retried POST's is.
   */
  onSocketRecord(transport: SessionTransport, type: number, body: Uint8Array): void {
    if (this.transport !== transport) return;
    if (isDataRecord(type)) {
      const at = this.socketOffset;
      this.socketOffset += body.length;
      if (!this.continuesData(at, body.length, this.received)) return;
    }
    this.onClientRecord(type, body);
  }

  /**
   * The rule for a client's message that starts at client offset `at`, against `received` bytes
   * had (the session's count, or what it will be once the messages before this one are taken):
   * true when it comes next; false when the session has it already (a resend: a retried POST,
   * or a POST that landed after a WebSocket took over); a RecordError when it does neither.
   */
  continuesData(at: number, length: number, received: number): boolean {
    if (at + length <= received) return false;
    if (at !== received) throw new RecordError(`a message at offset ${at} does not continue the session's count (${received})`);
    return true;
  }

  /** One record from the attached client; throws RecordError for one that breaks the protocol. */
  onClientRecord(type: number, body: Uint8Array): void {
    if (isDataRecord(type)) this.takeData(body);
    else if (type === RecordType.ack) this.takeAck(body);
    else if (type === RecordType.end) this.clientEnded();
    else throw new RecordError(`record type ${type} is not one a client sends here`);
  }

  /** The attached WebSocket drained: the replay and paused output may go on. */
  onTransportDrain(): void {
    this.replay();
    this.updatePeerFlow();
  }

  /**
   * Sends the attached transport the records it has not been given, in order, while it takes
   * them (a resume may have megabytes to replay, more than uWS may queue), then the END once
   * everything before it has gone. New peer output waits behind the replay.
   */
  private replay(): void {
    const transport = this.transport;
    if (transport === null) return;
    const log = this.log;
    const limit = this.limits.clientBuffer;
    let index = log.indexAfter(this.deliveredTo);
    // A batch stops once uWS holds more than client-buffer; its uncork may then write all of it at
    // once, and uWS calls drain only for data it still holds. So while the uncork left room,
    // batch again: waiting for a drain then would wait forever (a resume stalled that way).
    while (index < log.end && transport.queued <= limit) {
      transport.batch(() => {
        while (index < log.end && transport.queued <= limit) {
          transport.deliver(log.recordAt(index));
          this.deliveredTo = log.endAt(index);
          index++;
        }
      });
    }
    if (index === log.end && this.endRecord !== null && !this.endDelivered) {
      this.endDelivered = true;
      transport.deliver(this.endRecord);
    }
  }

  private takeData(body: Uint8Array): void {
    if (this.phase === 'finishing' || this.phase === 'done' || this.peerUnusable) return;
    if (body.length > this.limits.maxMessage) {
      this.endSession(WsCloseCode.tooBig, `message of ${body.length} bytes is over max-message (${this.limits.maxMessage})`);
      return;
    }
    const queued = this.peer.queuedBytes;
    if (queued > this.limits.peerBuffer) {
      this.peerUnusable = true;
      const decision = notReading('peer', queued, this.limits.peerBuffer);
      this.endSession(decision.code, decision.reason);
      return;
    }
    this.peer.write(body);
    this.received += body.length;
    if (this.received - this.ackSent >= this.ackBytes) {
      this.ackSoon ??= setImmediate(() => {
        this.ackSoon = null;
        runGuarded(this, 'session ack', () => this.sendAck());
      });
    } else this.ackTimer ??= setTimeout(() => runGuarded(this, 'session ack', () => this.sendAck()), ACK_DELAY_MS);
  }

  /** Acknowledges the client's data, unless the peer is behind: then the client's window holds it back. */
  private sendAck(): void {
    if (this.ackTimer !== null) clearTimeout(this.ackTimer);
    this.ackTimer = null;
    if (this.received === this.ackSent || this.finished) return;
    if (this.peer.queuedBytes > this.limits.peerBuffer / 2) {
      this.ackTimer = setTimeout(() => runGuarded(this, 'session ack', () => this.sendAck()), ACK_RETRY_MS);
      return;
    }
    this.ackSent = this.received;
    this.transport?.deliver(ackRecord(this.received));
  }

  /** The ACK a poll answer carries: what the session has taken, withheld like sendAck while the peer is behind. */
  ackForPoll(): Buffer {
    if (this.peer.queuedBytes <= this.limits.peerBuffer / 2) this.ackSent = this.received;
    return ackRecord(this.ackSent);
  }

  private takeAck(body: Uint8Array): void {
    const count = readAck(body);
    if (count === null || !this.log.canAck(count)) throw new RecordError(`ACK of ${count ?? 'a malformed count'}: ${this.log.acked} to ${this.log.sent} bytes were possible`);
    this.acknowledge(count);
  }

  /** The client has `count` data bytes (checked with log.canAck): what they cover is forgotten. */
  acknowledge(count: number): void {
    this.log.ack(count);
    this.updatePeerFlow();
    this.completeIfAcknowledged();
  }

  /** Pauses the peer while too much waits for the client, resumes it at half of that. */
  private updatePeerFlow(): void {
    if (this.phase !== 'live' || this.peerUnusable) return;
    const kept = this.log.kept;
    const queued = this.transport?.queued ?? 0;
    if (!this.peerPaused && (kept > this.limits.sessionBuffer || queued > this.limits.clientBuffer)) {
      this.peerPaused = true;
      this.peer.pause();
    } else if (this.peerPaused && kept <= this.limits.sessionBuffer / 2 && queued <= this.limits.clientBuffer / 2) {
      this.peerPaused = false;
      this.peer.resume();
    }
  }

  peerData(chunk: Buffer): void {
    if (this.phase !== 'live') return;
    framingSession = this;
    framingChunk = chunk;
    if (this.transport !== null) this.transport.batch(pushFraming);
    else pushFraming();
    framingSession = null;
    framingChunk = null;
    const failure = this.framingFailure;
    if (failure !== null) {
      this.framingFailure = null;
      if (failure instanceof FramingFailure) this.endSession(failure.closeCode, failure.message);
      else if (failure instanceof SendOverflowError) this.transport?.end(WsCloseCode.unexpected, `internal error: ${failure.message}`);
      else reportFault(this, 'framing', failure);
      return;
    }
    this.updatePeerFlow();
  }

  /** Runs inside the transport's batch (uWS cork): what throws is kept for peerData. */
  frameChunk(chunk: Buffer): void {
    try {
      this.framer.push(chunk);
    } catch (error) {
      if (error instanceof FramingFailure || error instanceof SendOverflowError) this.framingFailure = error;
      else {
        noteFault(this, `framing "${this.description.framing.name}"`, error);
        this.framingFailure = new FramingFailure(WsCloseCode.unexpected, `framing "${this.description.framing.name}" failed: ${errorMessage(error)}`);
      }
    }
  }

  sendFrame(data: Uint8Array, opcode: WsOperation): void {
    const record = makeRecord(opcode === WsOperation.text ? RecordType.text : RecordType.binary, data);
    const caughtUp = this.deliveredTo === this.log.sent;
    this.log.push(record, data.length);
    if (caughtUp && this.transport !== null) {
      this.transport.deliver(record);
      this.deliveredTo = this.log.sent;
    }
  }

  peerEnd(): void {
    const unframed = this.framer.pendingBytes;
    this.endSession(WsCloseCode.normal, unframed > 0 ? `Peer closed connection (${unframed} unframed bytes dropped)` : 'Peer closed connection');
  }

  peerError(error: Error): void {
    this.peerUnusable = true;
    this.endSession(WsCloseCode.unexpected, `Peer connection failed: ${errorCode(error)}`);
  }

  /**
   * No more data for the client: it gets an END after what it has not acknowledged, and the
   * session ends once it has acknowledged all of it (or its grace runs out).
   */
  private endSession(code: number, reason: string): void {
    if (this.phase !== 'live') return;
    this.markEnding(code, reason);
    this.replay();
    this.completeIfAcknowledged();
  }

  /** From now on the client's next record after the data is an END with `code`. */
  private markEnding(code: number, reason: string): void {
    this.phase = 'ending';
    this.endCode = code;
    this.endReason = reason;
    this.endRecord = jsonRecord(RecordType.end, { code, reason });
  }

  private completeIfAcknowledged(): void {
    if (this.phase !== 'ending' || this.log.unacked > 0 || this.transport === null) return;
    this.transport.end(this.endCode, this.endReason);
    this.finish('delivered');
  }

  /** The client sent END: what it sent is delivered to the peer, and the session ends. */
  private clientEnded(): void {
    if (this.finished) return;
    if (this.endCode === 0) {
      this.endCode = WsCloseCode.normal;
      this.endReason = 'Session ended by the client';
    }
    this.transport?.end(WsCloseCode.normal, 'Session ended');
    this.finish('ended by the client');
  }

  /** Ends the session from outside (DELETE over HTTP). */
  endByClient(): void {
    this.clientEnded();
  }

  private expire(): void {
    if (this.finished) return;
    log.warn('session expired', { ...this.logFields, why: `client did not return within ${this.limits.graceMs / 1000} s`, buffered: this.log.unacked });
    this.finish('expired');
  }

  /** Shutdown: the client is told, the peer gets what the session took. */
  shutdown(code: number, reason: string): void {
    this.transport?.end(code, reason);
    this.finish('shutdown');
  }

  /**
   * The operator ends the session now. An attached client gets what can go out at once, then an
   * END with `code` (so it closes, rather than trying to resume), without waiting for its
   * acknowledgements; a detached one finds no session when it comes back.
   */
  endByOperator(code: number, reason: string): void {
    if (this.finished) return;
    if (this.phase === 'live') this.markEnding(code, reason);
    this.replay();
    if (this.transport !== null && this.endRecord !== null && !this.endDelivered) {
      this.endDelivered = true;
      this.transport.deliver(this.endRecord);
    }
    this.transport?.end(code, reason);
    this.finish(reason);
  }

  /** Ends a session no client will ever see (it left before the answer). */
  cancel(why: string): void {
    this.peerUnusable = true;
    this.finish(why);
  }

  abortAfterFault(reason: string): void {
    this.peerUnusable = true;
    this.transport?.end(WsCloseCode.unexpected, reason);
    this.finish(`internal error: ${reason}`);
  }

  private finish(why: string): void {
    if (this.finished) return;
    this.phase = 'finishing';
    this.transport = null;
    for (const timer of [this.ackTimer, this.graceTimer]) if (timer !== null) clearTimeout(timer);
    if (this.ackSoon !== null) clearImmediate(this.ackSoon);
    this.ackSoon = null;
    this.ackTimer = null;
    this.graceTimer = null;
    try {
      this.framer.close();
    } catch (error) {
      noteFault(this, `framing "${this.description.framing.name}" release`, error);
    }
    if (this.peerUnusable || !this.started) this.peerFinished(why, this.peer.destroy());
    else this.peer.finish(PEER_LINGER_MS, (undelivered) => this.peerFinished(why, undelivered));
  }

  private peerFinished(why: string, undelivered: number): void {
    if (this.phase === 'done') return;
    this.phase = 'done';
    const d = this.description;
    log.info('session close', {
      ...this.logFields,
      ...addressFields(d),
      endpoint: d.endpoint,
      peer: this.peer.address.text,
      to_client: this.log.sent,
      unacknowledged: this.log.unacked > 0 ? this.log.unacked : undefined,
      to_peer: this.received - undelivered,
      undelivered: undelivered > 0 ? undelivered : undefined,
      resumes: this.resumes,
      code: this.endCode === 0 ? undefined : this.endCode,
      reason: this.endReason === '' ? undefined : this.endReason,
      why,
      seconds: ((Date.now() - this.openedAt) / 1000).toFixed(1),
    });
    this.onDone(this);
  }

  status(): SessionStatus {
    return {
      session: this.id,
      state: this.phase !== 'live' ? 'ending' : this.transport === null ? 'detached' : 'attached',
      transport: this.transport?.kind ?? null,
      ...addressFields(this.description),
      endpoint: this.description.endpoint,
      peer: this.peer.address.text,
      since: new Date(this.openedAt).toISOString(),
      detachedSince: this.detachedAt === null ? null : new Date(this.detachedAt).toISOString(),
      bytesToClient: this.log.sent,
      bytesToPeer: this.received,
      buffered: this.log.kept,
      peerPaused: this.peerPaused,
      resumes: this.resumes,
    };
  }
}
