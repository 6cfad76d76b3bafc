/*
 * One WebSocket client bridged to one network peer.
 *
 * client → peer: each message is copied once out of uWS's transient buffer, into the peer's
 *   write batch (streams) or its own datagram. uWS 20.30 cannot pause a WebSocket, so a peer that
 *   stops reading gets its queue bounded by closing with 1009 once `peerBuffer` bytes wait for it.
 * peer → client: each read goes through the framing loop; the frames of one read are sent
 *   corked (one syscall). While the client has more than `clientBuffer` bytes queued the peer
 *   is paused; uWS's drain event resumes it.
 */
import type { WebSocket } from 'uWebSockets.js';
import { WsCloseCode, WsOperation, type FramingDefinition } from './api.js';
import { FramingFailure, PeerFramer, type FrameSink } from './framer.js';
import { errorMessage } from './errors.js';
import { log } from './log.js';
import type { PeerConnection, PeerEvents } from './peer.js';

export interface BridgeLimits {
  readonly maxMessage: number;
  readonly frameLimit: number;
  readonly clientBuffer: number;
  readonly peerBuffer: number;
}

export interface BridgeData {
  readonly bridge: Bridge;
}

export interface BridgeDescription {
  readonly id: number;
  readonly clientAddress: string;
  /** X-Forwarded-For as a proxy in front sent it, for the log; not trusted for anything else. */
  readonly forwardedFor: string | undefined;
  readonly endpoint: string;
  readonly protocol: string;
  readonly framing: FramingDefinition;
  readonly framingConfig: string | null;
}

/** How long a closing peer may take to accept what is still queued for it. */
const PEER_LINGER_MS = 5000;

/** WebSocket close reasons are limited to 123 bytes of UTF-8. */
function shortReason(reason: string): string {
  return Buffer.byteLength(reason) <= 123 ? reason : Buffer.from(reason).subarray(0, 120).toString('utf8') + '...';
}

/**
 * The bridge whose peer read is being framed inside ws.cork(): cork takes a callback, and a
 * module-level one that finds its bridge here costs no closure per connection.
 */
let corkedBridge: Bridge | null = null;

function pushCorked(): void {
  corkedBridge?.pushChunk();
}

export class Bridge implements PeerEvents, FrameSink {
  bytesToClient = 0;
  bytesToPeer = 0;
  /** True once the client has been heard from since the last keep-alive sweep. */
  heard = true;
  /** True while a ping is unanswered. */
  awaitingPong = false;

  private ws: WebSocket<BridgeData> | null = null;
  private readonly framer: PeerFramer;
  private peerPaused = false;
  private peerPauses = 0;
  private closed = false;
  private closeCode = 0;
  private closeReason = '';
  private closedBy: 'client' | 'websocksy' = 'client';
  private readonly openedAt = Date.now();
  private chunk: Buffer | null = null;
  private framingFailure: FramingFailure | null = null;

  constructor(
    readonly description: BridgeDescription,
    readonly peer: PeerConnection,
    private readonly limits: BridgeLimits,
    private readonly onClosed: (bridge: Bridge) => void,
  ) {
    this.framer = new PeerFramer(description.framing, description.framingConfig, limits.frameLimit, this);
  }

  /** The 101 went out: start carrying data. */
  open(ws: WebSocket<BridgeData>): void {
    this.ws = ws;
    const d = this.description;
    log.info('open', {
      id: d.id,
      client: d.clientAddress,
      forwarded_for: d.forwardedFor,
      endpoint: d.endpoint,
      peer: this.peer.address.text,
      protocol: d.protocol === '' ? undefined : d.protocol,
      framing: d.framing.name,
    });
    this.peer.start(this);
  }

  /** A message from the client; `message` is only valid during this call. */
  onClientMessage(message: ArrayBuffer): void {
    this.heard = true;
    if (this.closed) return;
    if (message.byteLength > this.limits.maxMessage) {
      this.close(WsCloseCode.tooBig, `message of ${message.byteLength} bytes is over max-message (${this.limits.maxMessage})`);
      return;
    }
    this.bytesToPeer += message.byteLength;
    this.peer.write(new Uint8Array(message));
    if (this.peer.queuedBytes > this.limits.peerBuffer) {
      this.close(WsCloseCode.tooBig, `peer is not reading: over ${this.limits.peerBuffer} bytes queued for it`);
    }
  }

  /** uWS drained the client's send buffer below its limit. */
  onClientDrain(): void {
    const ws = this.ws;
    if (this.peerPaused && ws !== null && ws.getBufferedAmount() < this.limits.clientBuffer / 2) {
      this.peerPaused = false;
      this.peer.resume();
    }
  }

  /** Closes the client with `code` and `reason`; the close handler then finishes the bridge. */
  close(code: number, reason: string): void {
    if (this.closed || this.closeCode !== 0) return;
    this.closeCode = code;
    this.closeReason = reason;
    this.closedBy = 'websocksy';
    this.ws?.end(code, shortReason(reason));
  }

  /** Keep-alive probe; the payload is websocksy's. */
  ping(): void {
    this.ws?.ping('PING');
  }

  /** Drops a client that stopped answering pings, without a close handshake it cannot answer. */
  terminate(reason: string): void {
    if (this.closed || this.closeCode !== 0) return;
    this.closeCode = 1006;
    this.closeReason = reason;
    this.closedBy = 'websocksy';
    this.ws?.close();
  }

  /** uWS's close handler: the WebSocket is gone, whoever closed it. */
  onClientClosed(code: number, message: ArrayBuffer): void {
    if (this.closed) return;
    this.closed = true;
    this.ws = null;
    if (this.closeCode === 0) {
      this.closeCode = code;
      this.closeReason = Buffer.from(message).toString('utf8');
    }
    const unframed = this.framer.pendingBytes;
    this.framer.close();
    if (this.closedBy === 'client' || this.closeCode === WsCloseCode.shutdown) this.peer.end(PEER_LINGER_MS);
    else this.peer.destroy();
    const d = this.description;
    log.info('close', {
      id: d.id,
      client: d.clientAddress,
      endpoint: d.endpoint,
      peer: this.peer.address.text,
      to_client: this.bytesToClient,
      to_peer: this.bytesToPeer,
      unframed: unframed > 0 ? unframed : undefined,
      peer_pauses: this.peerPauses > 0 ? this.peerPauses : undefined,
      dropped: this.peer.droppedDatagrams > 0 ? this.peer.droppedDatagrams : undefined,
      code: this.closeCode,
      reason: this.closeReason,
      by: this.closedBy,
      seconds: ((Date.now() - this.openedAt) / 1000).toFixed(1),
    });
    this.onClosed(this);
  }

  peerData(chunk: Buffer): void {
    const ws = this.ws;
    if (ws === null) return;
    this.chunk = chunk;
    corkedBridge = this;
    ws.cork(pushCorked);
    corkedBridge = null;
    this.chunk = null;
    const failure = this.framingFailure;
    if (failure !== null) {
      this.close(failure.closeCode, failure.message);
      return;
    }
    if (!this.peerPaused && this.ws !== null && ws.getBufferedAmount() > this.limits.clientBuffer) {
      this.peerPaused = true;
      this.peerPauses++;
      this.peer.pause();
    }
  }

  /** Runs inside ws.cork(); exceptions must not cross into uWS, so they are kept for later. */
  pushChunk(): void {
    try {
      this.framer.push(this.chunk as Buffer);
    } catch (error) {
      this.framingFailure =
        error instanceof FramingFailure
          ? error
          : new FramingFailure(WsCloseCode.unexpected, `framing "${this.description.framing.name}" failed: ${errorMessage(error)}`);
    }
  }

  sendFrame(data: Uint8Array, opcode: WsOperation): void {
    const ws = this.ws;
    if (ws === null) return;
    // maxBackpressure is set above anything the pause rule lets through, so 2 (dropped) means a bug.
    if (ws.send(data, opcode === WsOperation.binary) === 2) {
      throw new FramingFailure(WsCloseCode.unexpected, 'client send buffer overflowed');
    }
    this.bytesToClient += data.length;
  }

  peerEnd(): void {
    const unframed = this.framer.pendingBytes;
    this.close(
      WsCloseCode.normal,
      unframed > 0 ? `Peer closed connection (${unframed} unframed bytes dropped)` : 'Peer closed connection',
    );
  }

  peerError(error: NodeJS.ErrnoException): void {
    this.close(WsCloseCode.unexpected, `Peer connection failed: ${error.code ?? error.message}`);
  }
}
