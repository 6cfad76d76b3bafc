/*
 * A tunnel session: the streams multiplexed over one WebSocket, which may come and go. While
 * the transport is down the streams stay (their sockets paused by lack of credit); when a new
 * transport resumes the session, each side reports per stream what it received and each
 * resends the rest. Both ends of a tunnel run this same class; server.ts and client.ts decide
 * what an OPEN may reach and handle the control messages.
 */
import { maxBackpressureFor } from '../core/send-policy.js';
import { errorMessage } from '../lib/errors.js';
import { guarded } from '../lib/guard.js';
import type { LogFields } from '../lib/log.js';
import {
  decodeControl, decodeCredit, decodeFrame, decodeOpen, encodeEmpty, encodeJson, encodeText, FrameType, GOAWAY_REJECT_REASON, MAX_FRAME, ProtocolError,
  type ControlMessage, type OpenTarget, type ResumeState,
} from './protocol.js';
import { TunnelStream, type StreamHost, type StreamSocket } from './stream.js';
import { isIdOf, isUnseen, StreamIdAllocator, type Side } from './stream-ids.js';

/** One WebSocket, whichever library carries it. */
export interface Transport {
  send(frame: Buffer): void;
  /** Closes the WebSocket with a reason; no more messages are delivered to the session. */
  close(reason: string): void;
}

/** What a session asks of its owner (server or client side). */
export interface SessionOwner {
  /** Names the session in the log. */
  readonly logFields: LogFields;
  /** Decides whether an OPEN may go ahead and dials; rejects with a reason the other side sees. `signal`: the stream ended meanwhile. */
  dial(target: OpenTarget, signal: AbortSignal): Promise<StreamSocket>;
  onControl(message: ControlMessage): void;
  onStreamEnded(stream: TunnelStream, reason: string | null): void;
  /** True once a goaway retired this session for a new one (a client's). */
  readonly retired?: boolean;
  /** A movable stream's socket, for a stream to `target` on the session that replaces this retired one. */
  reopen?(socket: StreamSocket, target: OpenTarget): void;
  /** The transport is unusable (protocol error, heartbeat timeout): drop it and wait for the next. */
  onTransportFailed(reason: string): void;
}

export interface SessionCounters {
  bytesIn: number;
  bytesOut: number;
  streamsOpened: number;
  streamsFailed: number;
  resumes: number;
}

/**
 * Unconsumed data queued toward the other side is at most one window per stream; this budget
 * caps the sum, so the server's WebSocket send buffer (uWS drops frames past maxBackpressure
 * instead of pushing back) can never overflow, and bounds what one session may pin in memory.
 * With the default 256 KiB window: 256 streams.
 */
export const SEND_BUDGET_BYTES = 64 * 1024 * 1024;

/**
 * What may wait to go out on a tunnel transport, either way: the budget plus a frame in flight.
 * The server gives it to uWS (maxBackpressure), the client to its WebSocket (maxBuffered); past
 * it the other side is not reading.
 */
export const TRANSPORT_SEND_BOUND = maxBackpressureFor(SEND_BUDGET_BYTES, MAX_FRAME);

/** Whatever the window: a resume lists every stream in one hello or welcome, which must fit a frame. */
export const MAX_STREAMS_PER_SESSION = 2048;

/** Streams a session may hold at once with `window`: at least one, at most MAX_STREAMS_PER_SESSION. */
export function maxStreamsFor(window: number): number {
  return Math.max(1, Math.min(MAX_STREAMS_PER_SESSION, Math.floor(SEND_BUDGET_BYTES / window)));
}

export interface SessionOptions {
  /** The first id this side opens (tests start near the 2^32 wrap); the side's lowest by default. */
  readonly firstStreamId?: number;
}

export class Session implements StreamHost {
  private transport: Transport | null = null;
  readonly streams = new Map<number, TunnelStream>();
  /** Streams the other side opened whose dial is under way: aborted if the stream ends first. */
  private readonly dialling = new Map<TunnelStream, AbortController>();
  private readonly ids: StreamIdAllocator;
  /** Newest stream id the other side opened that this side has seen (0: none). */
  private seen = 0;
  lastHeard = Date.now();
  readonly maxStreams: number;
  readonly counters: SessionCounters = { bytesIn: 0, bytesOut: 0, streamsOpened: 0, streamsFailed: 0, resumes: 0 };

  constructor(
    /** Client-opened streams are odd, server-opened ones even (stream-ids.ts). */
    private readonly side: Side,
    readonly window: number,
    private readonly owner: SessionOwner,
    options: SessionOptions = {},
  ) {
    this.ids = new StreamIdAllocator(side, options.firstStreamId);
    this.maxStreams = maxStreamsFor(window);
  }

  get logFields(): LogFields {
    return this.owner.logFields;
  }

  private get full(): boolean {
    return this.streams.size >= this.maxStreams;
  }

  get attached(): boolean {
    return this.transport !== null;
  }

  attach(transport: Transport): void {
    this.transport = transport;
    this.lastHeard = Date.now();
  }

  /** Forgets the transport (already closed or closing); the streams wait for a resume. */
  detach(): void {
    this.transport = null;
  }

  sendFrame(frame: Buffer): void {
    this.transport?.send(frame);
  }

  sendControl(message: ControlMessage): void {
    this.sendFrame(encodeJson(FrameType.control, 0, message));
  }

  ping(): void {
    this.sendFrame(encodeEmpty(FrameType.ping, 0));
  }

  /**
   * Opens a stream for a local socket; data flows once the other side accepts. A session at its
   * stream limit refuses: the socket is closed and null returned, for the caller to log.
   * `movable`: a local connection that may move to another session before it is accepted
   * (TunnelStream.handOver).
   */
  open(socket: StreamSocket, target: OpenTarget, movable = false): TunnelStream | null {
    if (this.full) {
      socket.destroy();
      return null;
    }
    const stream = new TunnelStream(this.ids.allocate((id) => this.streams.has(id)), true, target, this);
    stream.movable = movable;
    this.streams.set(stream.id, stream);
    this.counters.streamsOpened++;
    stream.attachSocket(socket);
    this.sendFrame(encodeJson(FrameType.open, stream.id, target));
    return stream;
  }

  streamEnded(stream: TunnelStream, reason: string | null): void {
    this.streams.delete(stream.id);
    this.dialling.get(stream)?.abort();
    this.dialling.delete(stream);
    this.counters.bytesIn += stream.bytesIn;
    this.counters.bytesOut += stream.bytesOut;
    if (reason !== null) this.counters.streamsFailed++;
    this.owner.onStreamEnded(stream, reason);
  }

  /** One WebSocket message. `owned` is false when the buffer is only valid during the call (uWS). */
  onMessage(message: Buffer, owned: boolean): void {
    this.lastHeard = Date.now();
    try {
      this.dispatch(message, owned);
    } catch (error) {
      if (!(error instanceof ProtocolError)) throw error;
      this.owner.onTransportFailed(`protocol error: ${error.message}`);
    }
  }

  private dispatch(message: Buffer, owned: boolean): void {
    const frame = decodeFrame(message);
    const { type, stream: id, body } = frame;
    switch (type) {
      case FrameType.data:
        this.streams.get(id)?.onData(body, owned);
        return;
      case FrameType.credit:
        this.streams.get(id)?.onCredit(decodeCredit(body));
        return;
      case FrameType.fin:
        this.streams.get(id)?.onFin();
        return;
      case FrameType.reset:
        this.streams.get(id)?.onReset(`reset by the other side: ${body.toString('utf8')}`);
        return;
      case FrameType.open:
        this.onOpen(id, decodeOpen(body));
        return;
      case FrameType.accept:
        this.onAccept(id);
        return;
      case FrameType.reject:
        this.onReject(id, body.toString('utf8'));
        return;
      case FrameType.ping:
        this.sendFrame(encodeEmpty(FrameType.pong, 0));
        return;
      case FrameType.pong:
        return;
      case FrameType.control:
        this.owner.onControl(decodeControl(body));
        return;
    }
  }

  /**
   * Only the side that sent an OPEN may hear its ACCEPT. One for a stream the other side opened
   * would mark it started while this side still dials: once dialled, start() would then be a
   * no-op and the socket stay paused, the stream wedged without a word. It resets that stream.
   */
  private onAccept(id: number): void {
    const stream = this.streams.get(id);
    if (stream === undefined) return;
    if (stream.openedHere) stream.start();
    else stream.reset(`ACCEPT of stream ${id}, which the other side opened`);
  }

  /**
   * A goaway'd server's REJECT moves a movable stream to the session that replaces this one; any
   * other resets it. Only once this session is retired: a server that said no goaway cannot
   * send a stream round in circles.
   */
  private onReject(id: number, reason: string): void {
    const stream = this.streams.get(id);
    if (stream === undefined) return;
    const socket = reason === GOAWAY_REJECT_REASON && this.owner.retired === true ? stream.handOver() : null;
    if (socket === null) stream.onReset(`refused: ${reason}`);
    else this.owner.reopen?.(socket, stream.target);
  }

  private onOpen(id: number, target: OpenTarget): void {
    const theirs = isIdOf(this.side === 'client' ? 'server' : 'client', id);
    if (!theirs || !isUnseen(id, this.seen) || this.streams.has(id)) throw new ProtocolError(`open of stream ${id}, which the other side may not open now`);
    this.seen = id;
    if (this.full) {
      this.sendFrame(encodeText(FrameType.reject, id, `too many streams in this session (limit ${this.maxStreams})`));
      return;
    }
    const stream = new TunnelStream(id, false, target, this);
    this.streams.set(id, stream);
    this.counters.streamsOpened++;
    const dial = new AbortController();
    this.dialling.set(stream, dial);
    this.owner.dial(target, dial.signal).then(
      guarded(stream, 'stream dialled', (socket: StreamSocket) => {
        this.dialling.delete(stream);
        if (stream.state === 'ended') {
          socket.destroy();
          return;
        }
        stream.attachSocket(socket);
        this.sendFrame(encodeEmpty(FrameType.accept, id));
        stream.start();
      }),
      guarded(stream, 'stream dial failed', (error: unknown) => {
        this.dialling.delete(stream);
        if (stream.state === 'ended') return;
        this.sendFrame(encodeText(FrameType.reject, id, errorMessage(error)));
        stream.onReset(`refused: ${errorMessage(error)}`);
      }),
    );
  }

  resumeState(): ResumeState {
    return { streams: [...this.streams.values()].map((stream) => stream.resumeState()), seen: this.seen };
  }

  /**
   * The other side's view after a reconnect: resend what it lacks, re-announce accepts (one may
   * have been lost), re-send opens it never saw, and settle streams it no longer knows.
   */
  resume(peer: ResumeState): void {
    this.counters.resumes++;
    const theirs = new Map(peer.streams.map((state) => [state.id, state]));
    for (const stream of [...this.streams.values()]) {
      const state = theirs.get(stream.id);
      if (state !== undefined) {
        if (!stream.openedHere && stream.state === 'open') this.sendFrame(encodeEmpty(FrameType.accept, stream.id));
        stream.resumeFrom(state.received, state.consumed);
      } else if (stream.openedHere && isUnseen(stream.id, peer.seen)) {
        this.sendFrame(encodeJson(FrameType.open, stream.id, stream.target));
      } else {
        stream.peerForgot();
      }
    }
  }

  /** A retired session that ends: each movable stream not yet accepted goes to the owner's reopen(), as a REJECT would send it. */
  handOverUnaccepted(): void {
    if (this.owner.retired !== true) return;
    for (const stream of [...this.streams.values()]) {
      const socket = stream.handOver();
      if (socket !== null) this.owner.reopen?.(socket, stream.target);
    }
  }

  /** Ends every stream (session expired or closed). */
  resetAll(reason: string): void {
    for (const stream of [...this.streams.values()]) stream.reset(reason);
  }
}
