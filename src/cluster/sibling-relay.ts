/*
 * A client's WebSocket carried on to the node of the cluster that holds what it asked for. This
 * node accepted the upgrade and read the first message (a HELLO naming a session another node
 * made, or a tunnel hello for an identity another node owns); the relay opens a WebSocket to
 * that node's link with the same path and
 * subprotocol, the cluster's secret and the client's address, sends the first message, then
 * passes messages both ways, text as text and binary as binary, and the close codes.
 *
 * The link's connection is websocksy's own client (lib/websocket-client.ts): each client message
 * is masked into its staging buffers from uWS's memory, and the sibling's messages reach uWS as
 * views of the shared read buffer, so a relayed tunnel copies nothing per message beyond that.
 * Backpressure follows the one policy (core/send-policy.ts): while more than `highWater` bytes
 * wait for the client, the sibling's socket is paused until uWS drains; a sibling that stops
 * reading cannot pause the client (uWS 20.30 has no ws.pause()), so past the same mark the
 * client is closed with 1013. Every callback of the link's connection runs behind the guard of
 * the client's socket.
 */
import { WsCloseCode } from '../core/api.js';
import type { ClientSocket } from '../core/endpoint.js';
import { aboveHighWater, drainedBelowLowWater, notReading, sendMessage } from '../core/send-policy.js';
import { sendableCloseCode } from '../lib/close-code.js';
import type { Guarded } from '../lib/guard.js';
import { log, type LogFields } from '../lib/log.js';
import { closeReason } from '../lib/text.js';
import { DEFAULT_UPSTREAM_TLS } from '../lib/tls-upstream.js';
import { ABNORMAL_CLOSURE, DROPPED, WebSocketClient, type WebSocketClientEvents, type WebSocketEnd } from '../lib/websocket-client.js';
import { LINK_HEADER } from './link.js';
import { nodeName, type NodeId } from './registry.js';
import type { Siblings } from './siblings.js';

/** How the client reached this node: what the sibling must see of its request. */
export interface RelayOrigin {
  /** Path and query, as the client asked. */
  readonly path: string;
  readonly host: string;
  /** The real client (front/client-address.ts), which the link believes from its siblings. */
  readonly clientAddress: string;
}

/** A node of the cluster, and how to reach it. */
export interface SiblingLink {
  readonly siblings: Siblings;
  readonly node: NodeId;
  readonly link: URL;
}

export interface RelayTarget extends SiblingLink {
  readonly subprotocol: string;
  /** Bytes the client may have waiting before the sibling pauses, and the sibling before the client is closed. */
  readonly highWater: number;
}

/** How long a sibling may take to accept the relay. */
const SIBLING_HANDSHAKE_MS = 5_000;

/** The sibling is websocksy, which bounds its own messages; this only stops a runaway one. */
const MAX_SIBLING_MESSAGE = 64 * 1024 * 1024;

export class SiblingRelay implements WebSocketClientEvents {
  private readonly upstream: WebSocketClient;
  private ended = false;
  private paused = false;
  /** What the client sent before the sibling accepted (the first message leads), and its size. */
  private waiting: Array<{ readonly data: Buffer; readonly binary: boolean }> | null;
  private waitingBytes = 0;

  /** `first`: the client's first message, sent ahead of the rest once the sibling accepts. */
  constructor(
    private readonly client: ClientSocket,
    private readonly owner: Guarded,
    origin: RelayOrigin,
    private readonly target: RelayTarget,
    first: Uint8Array,
  ) {
    const url = new URL(origin.path, target.link);
    url.protocol = 'ws:';
    this.waiting = [{ data: Buffer.from(first), binary: true }];
    this.upstream = new WebSocketClient(
      {
        url,
        protocols: [target.subprotocol],
        headers: { host: origin.host, 'x-forwarded-for': origin.clientAddress, [LINK_HEADER]: target.siblings.secret },
        // A sibling that hangs (stopped, overloaded) fails the relay, and the client retries, rather than waits without end.
        handshakeTimeoutMs: SIBLING_HANDSHAKE_MS,
        maxPayload: MAX_SIBLING_MESSAGE,
        tls: DEFAULT_UPSTREAM_TLS,
      },
      this,
    );
  }

  /** The node relayed to, for the log lines of the client's socket. */
  get relayFields(): { to: string } {
    return { to: nodeName(this.target.node) };
  }

  // Guarded: a fault in the link's callbacks is the client socket's.
  get logFields(): LogFields {
    return this.owner.logFields;
  }

  abortAfterFault(reason: string): void {
    this.owner.abortAfterFault(reason);
  }

  fromClient(message: ArrayBuffer, isBinary: boolean): void {
    if (this.ended) return;
    if (this.waiting !== null) {
      // uWS reuses the message's memory after this call.
      const data = Buffer.from(new Uint8Array(message));
      this.waiting.push({ data, binary: isBinary });
      this.waitingBytes += data.length;
    } else this.upstream.send(new Uint8Array(message), isBinary);
    const queued = this.waitingBytes + this.upstream.bufferedAmount;
    if (aboveHighWater(queued, this.target.highWater)) {
      const { code, reason } = notReading(nodeName(this.target.node), queued, this.target.highWater);
      this.endBoth(code, reason);
    }
  }

  clientDrained(): void {
    if (this.paused && drainedBelowLowWater(this.client.getBufferedAmount(), this.target.highWater)) {
      this.paused = false;
      this.upstream.resume();
    }
  }

  clientClosed(code: number): void {
    this.ended = true;
    this.closeUpstream(code, 'client closed');
  }

  /** Ends both sides (this node's own close: a fault, a shutdown). */
  endBoth(code: number, reason: string): void {
    if (this.ended) return;
    this.ended = true;
    this.client.end(code, closeReason(reason));
    this.closeUpstream(code, reason);
  }

  // ---- the link's connection ----

  opened(): void {
    const waiting = this.waiting ?? [];
    this.waiting = null;
    this.waitingBytes = 0;
    for (const { data, binary } of waiting) this.upstream.send(data, binary);
  }

  /** `data` may be a view of the shared read buffer: uWS copies it before the call returns. */
  message(data: Buffer, binary: boolean): void {
    if (this.ended) return;
    sendMessage(this.client, data, binary);
    if (!this.paused && aboveHighWater(this.client.getBufferedAmount(), this.target.highWater)) {
      this.paused = true;
      this.upstream.pause();
    }
  }

  unexpectedResponse(status: number): void {
    this.fail(`it answered HTTP ${status}`);
  }

  closed(end: WebSocketEnd): void {
    if (this.ended) return;
    if (this.waiting !== null || (end.code === ABNORMAL_CLOSURE && end.why !== DROPPED)) {
      this.fail(end.why);
      return;
    }
    this.ended = true;
    const code = sendableCloseCode(end.code) ? end.code : WsCloseCode.unexpected;
    this.client.end(code, closeReason(end.reason === '' ? `${nodeName(this.target.node)} closed the connection` : end.reason));
  }

  private fail(why: string): void {
    if (this.ended) return;
    // The owner's fields name the node relayed to already.
    log.warn('sibling relay failed', { ...this.logFields, why });
    this.endBoth(WsCloseCode.unexpected, `${nodeName(this.target.node)}, which holds what the client asked for, is unreachable: ${why}`);
  }

  private closeUpstream(code: number, reason: string): void {
    this.upstream.close(sendableCloseCode(code) ? code : 1000, closeReason(reason));
  }
}
