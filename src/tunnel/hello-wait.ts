/*
 * WebSockets on the tunnel path that have not said hello yet. Each holds a socket, and may have
 * sent a frame, before proving anything: at most `limit` may wait at once (one more upgrade is
 * answered 503), and each waits at most the heartbeat timeout. The server's sweep finds those
 * past it, so no timer is kept per socket.
 */
export class HelloWaitList<T> {
  private readonly since = new Map<T, number>();

  constructor(readonly limit: number) {}

  get size(): number {
    return this.since.size;
  }

  get full(): boolean {
    return this.since.size >= this.limit;
  }

  add(socket: T, now = Date.now()): void {
    this.since.set(socket, now);
  }

  /** False when `socket` was not waiting (it said hello before, or was never added). */
  delete(socket: T): boolean {
    return this.since.delete(socket);
  }

  /** Removes and returns the sockets that have waited longer than `timeoutMs`, with how long. */
  takeExpired(now: number, timeoutMs: number): Array<{ socket: T; waitedMs: number }> {
    const expired: Array<{ socket: T; waitedMs: number }> = [];
    for (const [socket, since] of this.since) {
      if (now - since <= timeoutMs) continue;
      expired.push({ socket, waitedMs: now - since });
      this.since.delete(socket);
    }
    return expired;
  }
}
