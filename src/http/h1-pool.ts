/*
 * The keep-alive pool of a direct http:// route: idle connections (h1-connection.ts) are reused
 * last-in first-out, so a quiet moment lets the oldest ones time out; there is no cap, as
 * there was none with undici's pool. An idle connection closes after the upstream's own
 * Keep-Alive timeout less a second (so that we never reuse one the upstream is closing), or
 * after `idleMs` when it named none; one sweep a second finds them, not a timer per request.
 */
import type { LookupFunction } from 'node:net';
import { processOwner, runGuarded } from '../lib/guard.js';
import { H1Connection, type ConnectionOwner } from './h1-connection.js';
import type { RouteDispatcher, UpstreamHandler, UpstreamRequest } from './upstream-pool.js';

const SWEEP_MS = 1000;
const sweeper = processOwner('route pool sweep');
/** Taken off the upstream's Keep-Alive timeout: our reuse must not cross its close. */
const KEEP_ALIVE_MARGIN_MS = 1000;

class PoolClosedError extends Error {
  constructor() {
    super('the route was closed');
    this.name = 'PoolClosedError';
  }
}

export class H1Pool implements RouteDispatcher, ConnectionOwner {
  private readonly idle: H1Connection[] = [];
  private readonly busy = new Set<H1Connection>();
  private sweeper: NodeJS.Timeout | null = null;
  private closing = false;
  private drained: (() => void) | null = null;

  constructor(
    private readonly url: URL,
    private readonly lookup: LookupFunction | undefined,
    private readonly idleMs: number,
  ) {}

  dispatch(request: UpstreamRequest, handler: UpstreamHandler): void {
    if (this.closing) {
      handler.onConnect(() => undefined);
      handler.onError(new PoolClosedError());
      return;
    }
    this.send(this.reusable() ?? new H1Connection(this.url, this.lookup, this), request, handler);
  }

  /**
   * The newest idle connection that may carry a request. One past its time is closed here too:
   * the sweep runs once a second, and a connection released between two sweeps would otherwise
   * stay up to a second past it, when the upstream may be closing it as our request goes out.
   */
  private reusable(): H1Connection | undefined {
    const now = Date.now();
    for (let connection = this.idle.pop(); connection !== undefined; connection = this.idle.pop()) {
      if (!connection.usable) continue;
      if (!this.expired(connection, now)) return connection;
      connection.destroy();
    }
    return undefined;
  }

  /** The connection has been idle for as long as it may be. */
  private expired(connection: H1Connection, now: number): boolean {
    const hint = connection.keepAliveHintMs;
    const limit = hint > 0 ? Math.max(hint - KEEP_ALIVE_MARGIN_MS, 0) : this.idleMs;
    return now - connection.idleSince >= limit;
  }

  private send(connection: H1Connection, request: UpstreamRequest, handler: UpstreamHandler): void {
    this.busy.add(connection);
    connection.send(request, handler);
  }

  released(connection: H1Connection): void {
    this.busy.delete(connection);
    if (this.closing) {
      connection.destroy();
      return;
    }
    this.idle.push(connection);
    this.sweeper ??= setInterval(() => runGuarded(sweeper, 'idle connections', () => this.sweep()), SWEEP_MS).unref();
  }

  gone(connection: H1Connection): void {
    this.busy.delete(connection);
    const index = this.idle.indexOf(connection);
    if (index >= 0) this.idle.splice(index, 1);
    if (this.closing && this.busy.size === 0) this.drained?.();
  }

  retry(request: UpstreamRequest, handler: UpstreamHandler): void {
    if (this.closing) handler.onError(new PoolClosedError());
    else this.send(new H1Connection(this.url, this.lookup, this), request, handler);
  }

  private sweep(): void {
    const now = Date.now();
    // The oldest are at the front: stop at the first that may stay.
    while (this.idle.length > 0) {
      const oldest = this.idle[0] as H1Connection;
      if (!this.expired(oldest, now)) break;
      oldest.destroy();
    }
    if (this.idle.length === 0 && this.sweeper !== null) {
      clearInterval(this.sweeper);
      this.sweeper = null;
    }
  }

  close(): Promise<void> {
    this.closing = true;
    this.stopIdle();
    if (this.busy.size === 0) return Promise.resolve();
    return new Promise((resolve) => {
      this.drained = resolve;
    });
  }

  destroy(): Promise<void> {
    this.closing = true;
    this.stopIdle();
    for (const connection of [...this.busy]) connection.destroy();
    return Promise.resolve();
  }

  private stopIdle(): void {
    if (this.sweeper !== null) clearInterval(this.sweeper);
    this.sweeper = null;
    for (const connection of this.idle.splice(0)) connection.destroy();
  }
}
