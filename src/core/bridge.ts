/*
 * One WebSocket client bridged to one network peer.
 *
 * client → peer: each message is copied once out of uWS's transient buffer, into the peer's
 *   write batch (streams) or its own datagram. uWS 20.30 cannot pause a WebSocket, so a peer
 *   that stops reading gets a bounded queue: past `peerBuffer` bytes waiting for it, the
 *   connection closes with 1013 (send-policy.ts).
 * peer → client: each read goes through the framing loop; the frames of one read are sent
 *   corked (one syscall). While the client has more than `clientBuffer` bytes queued the peer
 *   is paused; uWS's drain event resumes it.
 * Limits (admission.ts): every read and message stamps the ticket for the idle timeout. With a
 *   rate limit, peer → client shaping pauses the peer (a datagram peer then drops, as a paused
 *   one always does) until the tokens are back; client → peer cannot pause the WebSocket, so
 *   messages over the rate wait here, counted with the peer's queue against `peerBuffer`: a
 *   client that keeps sending past it is closed with 1008. One shared timer (throttle.ts) wakes
 *   the bridges that wait for tokens.
 * Closing: whoever closes first, what was accepted in either direction is delivered — the
 *   peer's queue is flushed before its socket ends (bounded by a linger time), and a close
 *   frame goes out behind the frames already queued for the client. Where something must be
 *   dropped (a peer that failed or stopped reading), the close line in the log counts it. That
 *   line is written once both sides are done, so its counts are final.
 * Metrics: bytes and messages each way are plain fields, which the metrics read when scraped;
 *   the observer (bridge-observer.ts) hears only of the open, the close and the failures.
 */
import { idleClock, type AdmissionTicket } from './admission.js';
import { WsCloseCode, WsOperation, type FramingDefinition } from './api.js';
import type { BridgeCounts, BridgeObserver } from './bridge-observer.js';
import { FramingFailure, PeerFramer, type FrameSink } from './framer.js';
import type { BridgedClient, ClientSocket } from './endpoint.js';
import { PeerConnectError, type PeerConnection, type PeerEvents } from './peer.js';
import { rateClock, throttle, type Throttled } from './throttle.js';
import { aboveHighWater, drainedBelowLowWater, notReading, overflowed, SendOverflowError, sendMessage, type CloseDecision } from './send-policy.js';
import { errorCode, errorMessage } from '../lib/errors.js';
import { noteFault, reportFault, type Guarded } from '../lib/guard.js';
import { log } from '../lib/log.js';
import { addressFields } from './request.js';
import { closeReason } from '../lib/text.js';

export interface BridgeLimits {
  readonly maxMessage: number;
  readonly frameLimit: number;
  readonly clientBuffer: number;
  readonly peerBuffer: number;
}

export interface BridgeDescription {
  readonly id: number;
  /** The real client (front/client-address.ts). */
  readonly clientAddress: string;
  /** The TCP peer: the proxy in front, when one named the client. */
  readonly remoteAddress: string;
  /** X-Forwarded-For as a proxy in front sent it, for the log; not trusted for anything else. */
  readonly forwardedFor: string | undefined;
  readonly endpoint: string;
  readonly protocol: string;
  readonly framing: FramingDefinition;
  readonly framingConfig: string | null;
  /** Who an `[auth]` section admitted (its user), for the log; absent when none applies or it names nobody. */
  readonly user?: string;
  /** Who the metrics count the connection for (bridge-observer.ts identityLabel): '' for nobody. */
  readonly identity: string;
}

export interface BridgeStatus {
  readonly id: number;
  readonly client: string;
  /** The proxy the client came through, when one named it. */
  readonly via?: string | undefined;
  readonly endpoint: string;
  readonly peer: string;
  readonly since: string;
  readonly bytesToClient: number;
  readonly bytesToPeer: number;
  readonly peerPaused: boolean;
}

/** How long a closing peer may take to accept what is still queued for it. */
export const PEER_LINGER_MS = 5000;

type Phase = 'open' | 'closing' | 'client-gone' | 'done';

/**
 * The bridge whose peer read is being framed inside ws.cork(): cork takes a callback, and a
 * module-level one that finds its bridge here costs no closure per connection.
 */
let corkedBridge: Bridge | null = null;

function pushCorked(): void {
  corkedBridge?.pushChunk();
}

export class Bridge implements BridgedClient, PeerEvents, FrameSink, Throttled, BridgeCounts {
  bytesToClient = 0;
  bytesToPeer = 0;
  messagesToClient = 0;
  messagesToPeer = 0;
  /** True once the client has been heard from since the last keep-alive sweep (a new one counts as heard). */
  heard = true;

  private ws: ClientSocket | null = null;
  private readonly framer: PeerFramer;
  private phase: Phase = 'open';
  private peerPaused = false;
  private peerPauses = 0;
  /** The peer failed or stopped reading: nothing more is written to it. */
  private peerUnusable = false;
  /** Client messages not delivered to the peer, in bytes (counted for the close line). */
  private droppedToPeer = 0;
  private closeCode = 0;
  private closeReasonText = '';
  private closedBy: 'client' | 'websocksy' = 'client';
  private unframedAtClose = 0;
  private readonly openedAt = Date.now();
  private chunk: Buffer | null = null;
  private framingFailure: Error | null = null;
  private ticket: AdmissionTicket | null = null;
  /** The peer is paused until peer → client tokens are back (apart from peerPaused, the client's backpressure). */
  private peerWaitsForTokens = false;
  /** Client messages over the rate, copied, waiting for client → peer tokens; null when none wait. */
  private held: Buffer[] | null = null;
  private heldBytes = 0;

  constructor(
    readonly description: BridgeDescription,
    readonly peer: PeerConnection,
    private readonly limits: BridgeLimits,
    private readonly observer: BridgeObserver,
  ) {
    this.framer = new PeerFramer(description.framing, description.framingConfig, limits.frameLimit, this);
  }

  get logFields(): { id: number } {
    return { id: this.description.id };
  }

  /** The 101 went out: start carrying data. */
  open(ws: ClientSocket, ticket: AdmissionTicket | null): void {
    this.ws = ws;
    this.ticket = ticket;
    // An idle close goes through the bridge, so that its close line says websocksy closed.
    if (ticket !== null) ticket.closer = this;
    const d = this.description;
    log.info('open', {
      id: d.id,
      ...addressFields(d),
      forwarded_for: d.forwardedFor,
      endpoint: d.endpoint,
      peer: this.peer.address.text,
      protocol: d.protocol === '' ? undefined : d.protocol,
      framing: d.framing.name,
      user: d.user,
    });
    this.observer.opened(this, d.identity);
    this.peer.start(this);
  }

  /** A message from the client; `message` is only valid during this call. */
  onClientMessage(message: ArrayBuffer): void {
    this.heard = true;
    const length = message.byteLength;
    if (this.phase === 'client-gone' || this.phase === 'done') return;
    if (this.peerUnusable) {
      this.droppedToPeer += length;
      return;
    }
    if (length > this.limits.maxMessage) {
      this.droppedToPeer += length;
      this.close(WsCloseCode.tooBig, `message of ${length} bytes is over max-message (${this.limits.maxMessage})`);
      return;
    }
    const queued = this.peer.queuedBytes;
    if (queued > this.limits.peerBuffer) {
      this.peerUnusable = true;
      this.droppedToPeer += length;
      this.closeWith(notReading('peer', queued, this.limits.peerBuffer));
      return;
    }
    const gate = this.ticket?.toPeer ?? null;
    if (gate !== null && (this.held !== null || !gate.pass(length, rateClock.now))) {
      this.hold(message, queued);
      return;
    }
    this.bytesToPeer += length;
    this.messagesToPeer++;
    this.peer.write(new Uint8Array(message));
  }

  /** A client message over the rate: it waits, within the peer's buffer, or the client is closed. */
  private hold(message: ArrayBuffer, queued: number): void {
    const length = message.byteLength;
    if (this.heldBytes + queued + length > this.limits.peerBuffer) {
      this.droppedToPeer += length;
      this.ticket?.count('rate-limit');
      this.close(WsCloseCode.policy, `sending faster than rate-limit allows, ${this.heldBytes + queued} bytes waiting`);
      return;
    }
    (this.held ??= []).push(Buffer.copyBytesFrom(new Uint8Array(message)));
    this.heldBytes += length;
    this.bytesToPeer += length;
    this.messagesToPeer++;
    throttle.add(this);
  }

  /** The shared throttle's tick: passes what the tokens allow; true when nothing waits any more. */
  wake(now: number): boolean {
    const ticket = this.ticket;
    const held = this.held;
    if (held !== null && ticket?.toPeer != null) {
      while (held.length > 0 && ticket.toPeer.pass((held[0] as Buffer).length, now)) {
        const message = held.shift() as Buffer;
        this.heldBytes -= message.length;
        this.peer.write(message);
      }
      if (held.length === 0) this.held = null;
    }
    if (this.peerWaitsForTokens && ticket?.toClient != null && ticket.toClient.open(now)) {
      this.peerWaitsForTokens = false;
      if (!this.peerPaused) this.peer.resume();
    }
    return this.held === null && !this.peerWaitsForTokens;
  }

  /** The client is gone: what it sent is delivered whatever the rate, as every close delivers what was accepted. */
  private releaseHeld(): void {
    throttle.delete(this);
    this.peerWaitsForTokens = false;
    const held = this.held;
    this.held = null;
    this.heldBytes = 0;
    if (held === null) return;
    if (this.peerUnusable) {
      for (const message of held) {
        this.droppedToPeer += message.length;
        this.bytesToPeer -= message.length;
        this.messagesToPeer--;
      }
      return;
    }
    for (const message of held) this.peer.write(message);
  }

  /** uWS drained the client's send buffer below its limit. */
  onClientDrain(): void {
    const ws = this.ws;
    if (this.peerPaused && ws !== null && drainedBelowLowWater(ws.getBufferedAmount(), this.limits.clientBuffer)) {
      this.peerPaused = false;
      if (!this.peerWaitsForTokens) this.peer.resume();
    }
  }

  /** Closes the client with `code` and `reason` behind what is queued for it; the close handler finishes the bridge. */
  close(code: number, reason: string): void {
    if (this.phase !== 'open') return;
    this.phase = 'closing';
    this.closeCode = code;
    this.closeReasonText = reason;
    this.closedBy = 'websocksy';
    this.ws?.end(code, closeReason(reason));
  }

  private closeWith(decision: CloseDecision): void {
    this.close(decision.code, decision.reason);
  }

  onClientPong(): void {
    this.heard = true;
  }

  ownerOf(socketClosed: boolean): Guarded {
    return socketClosed ? { logFields: this.logFields, abortAfterFault: () => this.abandon() } : this;
  }

  /** For the status JSON. */
  status(): BridgeStatus {
    const d = this.description;
    return {
      id: d.id,
      ...addressFields(d),
      endpoint: d.endpoint,
      peer: this.peer.address.text,
      since: new Date(this.openedAt).toISOString(),
      bytesToClient: this.bytesToClient,
      bytesToPeer: this.bytesToPeer,
      peerPaused: this.peerPaused,
    };
  }

  /** Keep-alive probe; the payload is websocksy's. */
  ping(): void {
    this.ws?.ping('PING');
  }

  /** Drops a client that stopped answering pings, without a close handshake it cannot answer. */
  terminate(reason: string): void {
    if (this.phase !== 'open') return;
    this.phase = 'closing';
    this.closeCode = 1006;
    this.closeReasonText = reason;
    this.closedBy = 'websocksy';
    this.ws?.close();
  }

  /** uWS's close handler: the WebSocket is gone, whoever closed it. The peer is finished next. */
  onClientClosed(code: number, message: ArrayBuffer): void {
    this.ws = null;
    if (this.phase === 'client-gone' || this.phase === 'done') return;
    this.phase = 'client-gone';
    if (this.closeCode === 0) {
      this.closeCode = code;
      this.closeReasonText = Buffer.from(message).toString('utf8');
    }
    this.unframedAtClose = this.framer.pendingBytes;
    this.releaseHeld();
    this.releaseFraming();
    if (this.peerUnusable) this.peerFinished(this.peer.destroy());
    else this.peer.finish(PEER_LINGER_MS, (undelivered) => this.peerFinished(undelivered));
  }

  /**
   * The framing function's release call (data === null) runs plugin code: a throw is logged and
   * counted like any other, and the peer is still finished, as nothing it was sent is lost.
   */
  private releaseFraming(): void {
    try {
      this.framer.close();
    } catch (error) {
      this.observer.pluginFailed();
      noteFault(this, `framing "${this.description.framing.name}" release`, error);
    }
  }

  private peerFinished(undelivered: number): void {
    if (this.phase === 'done') return;
    this.phase = 'done';
    const d = this.description;
    log.info('close', {
      id: d.id,
      ...addressFields(d),
      endpoint: d.endpoint,
      peer: this.peer.address.text,
      to_client: this.bytesToClient,
      to_peer: this.bytesToPeer - undelivered,
      undelivered: undelivered + this.droppedToPeer > 0 ? undelivered + this.droppedToPeer : undefined,
      unframed: this.unframedAtClose > 0 ? this.unframedAtClose : undefined,
      peer_pauses: this.peerPauses > 0 ? this.peerPauses : undefined,
      dropped: this.peer.droppedDatagrams > 0 ? this.peer.droppedDatagrams : undefined,
      code: this.closeCode,
      reason: this.closeReasonText,
      by: this.closedBy,
      seconds: ((Date.now() - this.openedAt) / 1000).toFixed(1),
    });
    this.observer.closed(this, this.closeCode);
  }

  /** The guard caught a throw in code working for this bridge: close it alone. */
  abortAfterFault(reason: string): void {
    this.peerUnusable = true;
    if (this.ws !== null) this.close(WsCloseCode.unexpected, reason);
    else this.abandon();
  }

  /** The client is gone and its close handling failed: drop the peer and finish, touching nothing of the socket. */
  abandon(): void {
    this.ws = null;
    throttle.delete(this);
    if (this.phase === 'done') return;
    this.phase = 'client-gone';
    this.peerFinished(this.peer.destroy());
  }

  peerData(chunk: Buffer): void {
    const ws = this.ws;
    if (ws === null || this.phase !== 'open') return;
    this.chunk = chunk;
    corkedBridge = this;
    ws.cork(pushCorked);
    corkedBridge = null;
    this.chunk = null;
    const failure = this.framingFailure;
    if (failure !== null) {
      this.framingFailure = null;
      if (failure instanceof FramingFailure) this.close(failure.closeCode, failure.message);
      else if (failure instanceof SendOverflowError) this.closeWith(overflowed(failure));
      else reportFault(this, 'framing', failure);
      return;
    }
    if (!this.peerPaused && this.ws !== null && aboveHighWater(ws.getBufferedAmount(), this.limits.clientBuffer)) {
      this.peerPaused = true;
      this.peerPauses++;
      if (!this.peerWaitsForTokens) this.peer.pause();
    }
    const ticket = this.ticket;
    if (ticket === null) return;
    ticket.lastActive = idleClock.now;
    const gate = ticket.toClient;
    if (gate === null || this.ws === null) return;
    if (!gate.spend(chunk.length, rateClock.now) && !this.peerWaitsForTokens) {
      this.peerWaitsForTokens = true;
      if (!this.peerPaused) this.peer.pause();
      throttle.add(this);
    }
  }

  /**
   * Runs inside ws.cork(): exceptions must not cross into uWS, so they are kept for peerData. A
   * framing function that throws (plugin code) is a fault like any other: logged and counted,
   * and its connection closes with 1011.
   */
  pushChunk(): void {
    try {
      this.framer.push(this.chunk as Buffer);
    } catch (error) {
      if (error instanceof FramingFailure || error instanceof SendOverflowError) {
        // The framer's own verdict on the stream; a plugin's throw (below) is counted as the plugin's.
        if (error instanceof FramingFailure) this.observer.framingFailed();
        this.framingFailure = error;
        return;
      }
      this.observer.pluginFailed();
      noteFault(this, `framing "${this.description.framing.name}"`, error);
      this.framingFailure = new FramingFailure(WsCloseCode.unexpected, `framing "${this.description.framing.name}" failed: ${errorMessage(error)}`);
    }
  }

  sendFrame(data: Uint8Array, opcode: WsOperation): void {
    const ws = this.ws;
    if (ws === null) return;
    sendMessage(ws, data, opcode === WsOperation.binary);
    this.bytesToClient += data.length;
    this.messagesToClient++;
  }

  peerEnd(): void {
    const unframed = this.framer.pendingBytes;
    this.close(
      WsCloseCode.normal,
      unframed > 0 ? `Peer closed connection (${unframed} unframed bytes dropped)` : 'Peer closed connection',
    );
  }

  peerError(error: Error): void {
    this.peerUnusable = true;
    // An early upgrade's connect that failed (peer-connecting.ts): the gateway's own close code.
    if (error instanceof PeerConnectError) this.close(WsCloseCode.badGateway, error.message);
    else this.close(WsCloseCode.unexpected, `Peer connection failed: ${errorCode(error)}`);
  }
}
