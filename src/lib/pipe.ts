/*
 * An in-process socket pair: what one end writes, the other reads, with backpressure (a write
 * is acknowledged only once the other end's reader has room). An HTTP route that speaks
 * through a tunnel hands one end to its HTTP client as the connection and attaches the other
 * to a tunnel stream, so HTTP/1.1 goes over the stream with no TCP hop and no extra buffering;
 * a remote listener's connection relayed from another node of a cluster reaches its tunnel
 * stream the same way (tunnel/listener-relay.ts).
 */
import { Duplex } from 'node:stream';

export class PipeEnd extends Duplex {
  private peer: PipeEnd | null = null;
  /** The other end's pending write, released when this end's reader wants more. */
  private releaseWriter: (() => void) | null = null;
  private sentEnd = false;
  /** The HTTP exchange over this end is complete: however it is destroyed next, the close is orderly. */
  private exchangeDone = false;

  /** Returns two connected ends. */
  static pair(): [PipeEnd, PipeEnd] {
    const a = new PipeEnd({ allowHalfOpen: true });
    const b = new PipeEnd({ allowHalfOpen: true });
    a.peer = b;
    b.peer = a;
    return [a, b];
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    const peer = this.peer;
    if (peer === null || peer.destroyed) {
      callback(new Error('the other end of the pipe is gone'));
      return;
    }
    if (peer.push(chunk)) callback();
    else peer.releaseWriter = () => callback();
  }

  override _read(): void {
    const release = this.releaseWriter;
    this.releaseWriter = null;
    release?.();
  }

  override _final(callback: (error?: Error | null) => void): void {
    this.sendEnd();
    callback();
  }

  private sendEnd(): void {
    if (this.sentEnd) return;
    this.sentEnd = true;
    this.peer?.push(null);
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    const peer = this.peer;
    if (peer !== null && !peer.destroyed) {
      // Destroyed after both directions ended (node:http does that when a response is done):
      // an orderly close, the other end only needs its end of data. Anything else is an
      // abort, which the other end learns as an error, as a TCP peer would see a reset.
      // So is one after endExchange (undici destroys its connection, with a reason, once a
      // response is complete and the connection is not to be reused).
      if (this.exchangeDone || (error === null && this.writableEnded && this.readableEnded)) this.sendEnd();
      else peer.destroy(error ?? new PipeResetError());
    }
    this.peer = null;
    callback(error);
  }

  /** The HTTP client is done with this connection, its response complete: the other end gets an orderly end. */
  endExchange(): void {
    this.exchangeDone = true;
    this.sendEnd();
  }

  /** net.Socket's abrupt close, for tunnel streams (src/tunnel/stream.ts). */
  resetAndDestroy(): this {
    return this.destroy(new PipeResetError());
  }

  // node:http calls these on its connection; they have no meaning in process.
  setNoDelay(): this {
    return this;
  }

  setKeepAlive(): this {
    return this;
  }

  ref(): this {
    return this;
  }

  unref(): this {
    return this;
  }
}

export class PipeResetError extends Error {
  readonly code = 'ECONNRESET';

  constructor() {
    super('connection reset: the tunnel stream ended abruptly');
    this.name = 'PipeResetError';
  }
}
