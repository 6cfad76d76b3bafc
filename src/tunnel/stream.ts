/*
 * One TCP connection carried through a tunnel, in both directions:
 *   socket → tunnel: reads are sent while the peer's credit allows (sent − acked < window); the
 *     socket is paused otherwise. A read larger than a data frame may carry (an in-process pipe
 *     hands over whole buffers) goes as several frames. Every unit sent stays in the replay list
 *     until the peer acknowledges it, so a resumed session resends exactly what the peer did not
 *     receive.
 *   tunnel → socket: data is written to the socket; what the socket has taken (received minus
 *     its write queue) goes back as credit, which is both flow control and acknowledgement. It is
 *     recounted when a write completes and when the socket finishes after the peer's FIN (Node
 *     emits no 'drain' once end() was called), so the last bytes are always credited.
 * A FIN counts as one sequence unit so that it is acknowledged and replayed like data. Every
 * socket callback runs behind the guard with the stream as its owner: a throw resets this one
 * stream.
 */
import { Socket } from 'node:net';
import { guarded, type Guarded } from '../lib/guard.js';
import type { LogFields } from '../lib/log.js';
import { resetConnection } from '../lib/reset-connection.js';
import { giveBuffer, POOL_FROM, takeBuffer } from './buffer-pool.js';
import { encodeCredit, encodeData, encodeDataInto, encodeEmpty, encodeText, FrameType, HEADER_SIZE, MAX_DATA_PAYLOAD, type OpenTarget } from './protocol.js';

/**
 * The local end of a stream: a TCP socket, or one end of an in-process pipe (src/lib/pipe.ts)
 * when an HTTP route speaks through the tunnel itself. net.Socket satisfies it as is.
 */
export interface StreamSocket {
  readonly destroyed: boolean;
  readonly writableLength: number;
  readonly writableEnded: boolean;
  readonly writableFinished: boolean;
  pause(): unknown;
  resume(): unknown;
  /** `written` runs once the chunk has left the write queue. */
  write(chunk: Buffer, written: (error?: Error | null) => void): boolean;
  end(): unknown;
  destroy(): unknown;
  /** Ends abruptly, so the local peer sees a reset rather than an orderly end (called through lib/reset-connection.ts). */
  resetAndDestroy(): unknown;
  /** `chunk` may be valid only during the call (a dialled socket reads into a shared buffer). */
  on(event: 'data', listener: (chunk: Buffer) => void): unknown;
  on(event: 'error', listener: (error: NodeJS.ErrnoException) => void): unknown;
  on(event: 'end' | 'finish' | 'close', listener: () => void): unknown;
  off(event: 'data', listener: (chunk: Buffer) => void): unknown;
  off(event: 'error', listener: (error: NodeJS.ErrnoException) => void): unknown;
  off(event: 'end' | 'finish' | 'close', listener: () => void): unknown;
}

/** What a stream needs from its session. */
export interface StreamHost {
  readonly window: number;
  /** False while the tunnel is down: frames sent then are dropped (resume replays what matters). */
  readonly attached: boolean;
  /** Names the session in the log. */
  readonly logFields: LogFields;
  /** Sends a frame now, or drops it while the tunnel is down. */
  sendFrame(frame: Buffer): void;
  /** The stream has nothing left to do; `reason` is set when it ended abnormally. */
  streamEnded(stream: TunnelStream, reason: string | null): void;
}

interface ReplayEntry {
  /** Sequence number of the entry's first unit. */
  readonly start: number;
  /** A data frame, or a FIN frame (one unit). */
  readonly frame: Buffer;
  readonly units: number;
  /** The pooled buffer under `frame`, given back once the peer acknowledged the frame. */
  readonly pooled: Buffer | null;
}

export type StreamState = 'opening' | 'open' | 'ended';

export class TunnelStream implements Guarded {
  state: StreamState = 'opening';
  private socket: StreamSocket | null = null;
  readonly createdAt = Date.now();
  // socket → tunnel
  private sent = 0;
  private acked = 0;
  private readonly replay: ReplayEntry[] = [];
  private pending: Buffer | null = null;
  private localEnded = false;
  private finSent = false;
  private pausedForCredit = false;
  // tunnel → socket
  private received = 0;
  private advertised = 0;
  private finReceived = false;
  /**
   * Per socket write in order, the pooled buffer it borrowed (or null); null for sockets that
   * may hold a chunk past its write callback (an in-process pipe hands it on as is).
   */
  private lent: (Buffer | null)[] | null = null;
  /** Takes this stream's listeners off its socket (handOver). */
  private unlisten: (() => void) | null = null;
  /** A local connection this side opened, which may move to another session before it is accepted (handOver). */
  movable = false;
  /** The write callback, made once: a completed write may free credit and its pooled buffer. */
  private readonly written = guarded(this, 'stream write', (error?: Error | null) => {
    const borrowed = this.lent?.shift() ?? null;
    if (error !== undefined && error !== null) return;
    if (borrowed !== null) giveBuffer(borrowed);
    this.advertise(false);
  });

  constructor(
    readonly id: number,
    /** True when this side sent the OPEN. */
    readonly openedHere: boolean,
    /** What the OPEN asked for; resent if the other side never saw it. */
    readonly target: OpenTarget,
    private readonly host: StreamHost,
  ) {}

  get logFields(): LogFields {
    return { ...this.host.logFields, stream: this.id, target: this.description };
  }

  /** A throw in this stream's callbacks resets it alone. */
  abortAfterFault(reason: string): void {
    this.reset(reason);
  }

  /** For logs and status: what the stream connects. */
  get description(): string {
    return 'listener' in this.target ? `listener ${this.target.listener}` : `${this.target.host}:${this.target.port}`;
  }

  get bytesOut(): number {
    return this.sent - (this.finSent ? 1 : 0);
  }

  get bytesIn(): number {
    return this.received - (this.finReceived ? 1 : 0);
  }

  /** Sent and not yet acknowledged: what the replay list holds for a resume, in units (bytes, and one for a FIN). */
  get unacknowledged(): number {
    return this.sent - this.acked;
  }

  /** Binds the TCP socket; reading starts with start() once the other side has accepted. */
  attachSocket(socket: StreamSocket): void {
    this.socket = socket;
    // A TCP socket is done with a chunk when its write callback runs (the kernel has it).
    if (socket instanceof Socket) this.lent = [];
    socket.pause();
    const onData = guarded(this, 'stream data', (chunk: Buffer) => this.onSocketData(chunk));
    const onEnd = guarded(this, 'stream end', () => this.onSocketEnd());
    const onFinish = guarded(this, 'stream finish', () => this.advertise(true));
    const onError = guarded(this, 'stream error', (error: NodeJS.ErrnoException) => this.reset(`local socket: ${error.code ?? error.message}`));
    const onClose = guarded(this, 'stream close', () => {
      // A socket that closes before both FINs went through lost its other half.
      if (this.state !== 'ended' && !(this.localEnded && this.finReceived)) this.reset('local socket closed');
    });
    socket.on('data', onData);
    socket.on('end', onEnd);
    socket.on('finish', onFinish);
    socket.on('error', onError);
    socket.on('close', onClose);
    this.unlisten = () => {
      socket.off('data', onData);
      socket.off('end', onEnd);
      socket.off('finish', onFinish);
      socket.off('error', onError);
      socket.off('close', onClose);
    };
  }

  /**
   * The other side asks for this stream on another session (goaway): the socket as it came, for
   * a new stream there, and this one ends quietly. Null unless nothing has flowed yet: a movable
   * stream, not accepted, nothing sent.
   */
  handOver(): StreamSocket | null {
    const socket = this.socket;
    if (!this.movable || this.state !== 'opening' || this.sent > 0 || socket === null || socket.destroyed) return null;
    this.unlisten?.();
    this.socket = null;
    this.finish(null);
    return socket;
  }

  /** The stream is accepted: data may flow. */
  start(): void {
    if (this.state !== 'opening') return;
    this.state = 'open';
    this.socket?.resume();
  }

  // ---- socket → tunnel ----

  private onSocketData(chunk: Buffer): void {
    if (this.state === 'ended') return;
    if (this.pending !== null) {
      // Normally the socket is paused while data waits; a read already under way still lands here.
      this.pending = Buffer.concat([this.pending, chunk]);
      this.pauseIfNoCredit();
      return;
    }
    const room = Math.max(0, this.acked + this.host.window - this.sent);
    const take = Math.min(room, chunk.length);
    for (let start = 0; start < take; start += MAX_DATA_PAYLOAD) this.sendData(chunk, start, Math.min(take, start + MAX_DATA_PAYLOAD));
    // The chunk may be a view of a shared read buffer: what waits for credit is copied.
    if (take < chunk.length) this.pending = Buffer.from(chunk.subarray(take));
    this.pauseIfNoCredit();
  }

  private sendData(chunk: Buffer, start: number, end: number): void {
    const pooled = end - start >= POOL_FROM ? takeBuffer() : null;
    const frame = pooled === null ? encodeData(this.id, chunk, start, end) : encodeDataInto(pooled, this.id, chunk, start, end);
    this.replay.push({ start: this.sent, frame, units: end - start, pooled });
    this.sent += end - start;
    this.host.sendFrame(frame);
  }

  private pauseIfNoCredit(): void {
    if (this.pending === null && this.sent - this.acked < this.host.window) return;
    if (!this.pausedForCredit) {
      this.pausedForCredit = true;
      this.socket?.pause();
    }
  }

  private onSocketEnd(): void {
    this.localEnded = true;
    this.sendFinIfDue();
  }

  private sendFinIfDue(): void {
    if (!this.localEnded || this.finSent || this.pending !== null || this.state === 'ended') return;
    const frame = encodeEmpty(FrameType.fin, this.id);
    this.replay.push({ start: this.sent, frame, units: 1, pooled: null });
    this.sent += 1;
    this.finSent = true;
    this.host.sendFrame(frame);
  }

  /** The peer has consumed `consumed` units: free the replay list, send what waited for credit. */
  onCredit(consumed: number): void {
    if (consumed > this.sent) {
      this.reset(`peer acknowledged ${consumed} units, only ${this.sent} were sent`);
      return;
    }
    if (consumed <= this.acked) return;
    this.acked = consumed;
    this.trimReplay();
    if (this.pending !== null) {
      const chunk = this.pending;
      this.pending = null;
      this.onSocketData(chunk);
    }
    if (this.pausedForCredit && this.pending === null && this.sent - this.acked < this.host.window) {
      this.pausedForCredit = false;
      if (this.state === 'open') this.socket?.resume();
    }
    this.sendFinIfDue();
    this.endIfComplete();
  }

  private trimReplay(): void {
    let drop = 0;
    for (const entry of this.replay) {
      if (entry.start + entry.units > this.acked) break;
      drop++;
    }
    this.dropReplay(drop);
  }

  /** Forgets the first `count` replay entries, acknowledged: their frames were delivered, no one reads them. */
  private dropReplay(count: number): void {
    if (count === 0) return;
    for (let i = 0; i < count; i++) {
      const pooled = (this.replay[i] as ReplayEntry).pooled;
      if (pooled !== null) giveBuffer(pooled);
    }
    this.replay.splice(0, count);
  }

  // ---- tunnel → socket ----

  /** `owned` is false when `payload` is valid only during the call (uWS's message buffer). */
  onData(payload: Buffer, owned = true): void {
    if (this.finReceived) {
      this.reset('data after FIN');
      return;
    }
    // The other side sends only once the stream is accepted: on the side that accepts, after the
    // dial (data earlier has nowhere to go); on the side that opened, after the ACCEPT (data earlier
    // would reach a local connection that a REJECT may yet refuse, or move to another session).
    if (this.socket === null || this.state === 'opening') {
      this.reset('data before the stream was accepted');
      return;
    }
    this.received += payload.length;
    // Never more than a window beyond what was acknowledged: that is what bounds memory here.
    if (this.received - this.advertised > this.host.window) {
      this.reset(`peer sent ${this.received - this.advertised} units beyond its ${this.host.window}-byte credit`);
      return;
    }
    if (this.lent === null) {
      this.socket.write(owned ? payload : Buffer.from(payload), this.written);
    } else {
      const borrowed = !owned && payload.length >= POOL_FROM ? takeBuffer() : null;
      this.lent.push(borrowed);
      let chunk = payload;
      if (borrowed !== null) {
        payload.copy(borrowed);
        chunk = borrowed.subarray(0, payload.length);
      } else if (!owned) {
        chunk = Buffer.from(payload);
      }
      this.socket.write(chunk, this.written);
    }
    this.advertise(false);
  }

  onFin(): void {
    if (this.finReceived) return;
    if (this.socket === null || this.state === 'opening') {
      this.reset('FIN before the stream was accepted');
      return;
    }
    this.finReceived = true;
    this.received += 1;
    // What the socket still queues is credited on its 'finish'.
    this.socket.end();
    this.advertise(true);
    this.endIfComplete();
  }

  /** How much of what arrived the socket has taken; a FIN counts as taken at once. */
  consumed(): number {
    return this.received - (this.socket?.writableLength ?? 0);
  }

  /**
   * Credit goes back in half windows: a busy stream sends two small frames per window, and the
   * sender still has half a window to send while the credit travels. (A quarter window sent one
   * per 64 KiB data frame: half the writes on the tunnel's WebSocket were credit.) Not while the
   * tunnel is down: a credit frame would be dropped, and resume reports the count.
   */
  private advertise(force: boolean): void {
    if (this.state === 'ended' || !this.host.attached) return;
    const consumed = this.consumed();
    if (consumed <= this.advertised) return;
    if (!force && consumed - this.advertised < this.host.window / 2) return;
    this.advertised = consumed;
    this.host.sendFrame(encodeCredit(this.id, consumed));
    this.endIfComplete();
  }

  // ---- resume ----

  resumeState(): { id: number; received: number; consumed: number } {
    this.advertised = Math.max(this.advertised, this.consumed());
    return { id: this.id, received: this.received, consumed: this.advertised };
  }

  /** The peer says what it received and consumed (consumed ≤ received, protocol.ts): resend the rest of the replay list. */
  resumeFrom(received: number, consumed: number): void {
    if (received > this.sent) {
      this.reset(`peer resumes at ${received} units, only ${this.sent} were sent`);
      return;
    }
    for (const entry of this.replay) {
      const end = entry.start + entry.units;
      if (end <= received) continue;
      if (entry.start >= received) {
        this.host.sendFrame(entry.frame);
      } else {
        // The peer has part of this frame: send the rest as a new data frame.
        const skip = received - entry.start;
        this.host.sendFrame(encodeData(this.id, entry.frame, HEADER_SIZE + skip, entry.frame.length));
      }
    }
    this.onCredit(consumed);
    // The socket may have taken more since the state was reported (the client reports in its hello).
    this.advertise(this.finReceived);
    // Reporting the state may itself have completed the stream (its last credit went with it).
    this.endIfComplete();
  }

  /** The peer no longer knows this stream: it finished it, or reset it while we were apart. */
  peerForgot(): void {
    if (this.finSent && this.finReceived) {
      this.acked = this.sent;
      this.replay.length = 0;
      this.finish(null);
    } else {
      this.reset('reset by the other side while the tunnel was down');
    }
  }

  get complete(): boolean {
    return this.finSent && this.acked === this.sent && this.finReceived && this.advertised === this.received;
  }

  private endIfComplete(): void {
    if (this.state !== 'ended' && this.complete) this.finish(null);
  }

  // ---- abnormal ends ----

  /** Ends the stream here and tells the other side why. */
  reset(reason: string): void {
    if (this.state === 'ended') return;
    this.host.sendFrame(encodeText(FrameType.reset, this.id, reason));
    this.socket?.destroy();
    this.finish(reason);
  }

  /** The other side reset the stream (or refused to open it): the local peer gets a TCP RST. */
  onReset(reason: string): void {
    if (this.state === 'ended') return;
    if (this.socket !== null && !this.socket.destroyed) resetConnection(this.socket);
    this.finish(reason);
  }

  private finish(reason: string | null): void {
    this.state = 'ended';
    this.pending = null;
    // Frames not acknowledged may still sit in a transport's queue: the GC takes them, not the pool.
    this.replay.length = 0;
    this.host.streamEnded(this, reason);
  }
}
