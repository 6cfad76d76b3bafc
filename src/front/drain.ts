/*
 * SIGTERM's graceful drain (docs/operations.md, "Stopping and rolling restarts"), modelled on
 * nginx's graceful quit and HAProxy's hard-stop-after: every listen socket closes at once, so
 * a load balancer's health check sees the instance gone and new connections go to another
 * one; upgrades still waiting get 503; HTTP answers say `Connection: close`
 * (http/response-drain.ts); tunnels' remote listeners close (tunnel/server.ts). What is
 * open (WebSockets, resumable sessions, tunnel streams, HTTP requests being answered) may end
 * by itself until the deadline; the caller then closes what is left with 1001, as SIGINT does.
 * The counts live with their owners, so they are polled, and only while a drain runs.
 */
import type { Admission } from '../core/admission.js';
import { responseDrain } from '../http/response-drain.js';
import { processOwner, runGuarded } from '../lib/guard.js';
import { log } from '../lib/log.js';
import { notifyStatus } from '../lib/systemd-notify.js';
import type { SessionStore } from '../session/session-store.js';
import type { TunnelServer } from '../tunnel/server.js';
import type { Front } from './app.js';

/** How often the counts are read: well under any sensible deadline, and cheap (a few sizes). */
const POLL_MS = 100;

/**
 * How long the drain goes on, even with nothing open, for a connection accepted just before the
 * listener closed whose first request has not come yet: uWS tells nobody of a connection until
 * its request, so none of the counts holds it. A load balancer that connected as SIGTERM came
 * sends its request a moment later; within this grace it is served as any request of the
 * drain, after it the front refuses it with 503 (Front.endServing), where it used to meet a
 * closed route's 502. Go's http.Server.Shutdown waits for such connections likewise.
 */
const FIRST_REQUEST_GRACE_MS = 1000;

const poller = processOwner('drain');

export interface DrainParts {
  readonly fronts: readonly Front[];
  /** Every WebSocket of every listener holds one of its tickets. */
  readonly admission: Admission;
  readonly sessions: SessionStore;
  readonly tunnelServer: TunnelServer | null;
}

interface OpenCounts {
  /** WebSockets other than tunnels': bridge, sessions' sockets, peer and relay routes, modules. */
  readonly websockets: number;
  /** Resumable sessions, attached or waiting for their client: their peers are still open. */
  readonly sessions: number;
  /** Tunnel streams; a tunnel whose streams are done has nothing left to finish. */
  readonly streams: number;
  /** HTTP requests being answered. */
  readonly requests: number;
}

function total(counts: OpenCounts): number {
  return counts.websockets + counts.sessions + counts.streams + counts.requests;
}

function describe(counts: OpenCounts): string {
  return `${counts.websockets} WebSockets, ${counts.sessions} sessions, ${counts.streams} tunnel streams, ${counts.requests} HTTP requests`;
}

export class Drain {
  /** Ends the wait of a running drain (a second signal); null when none runs. */
  private cut: (() => void) | null = null;

  constructor(private readonly parts: DrainParts) {}

  private counts(): OpenCounts {
    const { admission, sessions, tunnelServer } = this.parts;
    return {
      websockets: admission.size - (tunnelServer?.transports ?? 0),
      sessions: sessions.size,
      streams: tunnelServer?.openStreams ?? 0,
      requests: responseDrain.open,
    };
  }

  /**
   * Stops accepting, then waits until nothing is open (and FIRST_REQUEST_GRACE_MS has passed),
   * `timeoutMs` has passed or end() is called.
   */
  async run(signal: string, timeoutMs: number): Promise<void> {
    for (const front of this.parts.fronts) front.close();
    responseDrain.start();
    this.parts.tunnelServer?.stopAccepting();
    const started = Date.now();
    let previous = this.counts();
    // Requests on kept-alive connections may start during the drain: each counts once.
    let seen = total(previous);
    log.info('draining', { signal, ...previous, deadline_s: timeoutMs / 1000 });
    notifyStatus(`draining: ${describe(previous)} open, deadline in ${timeoutMs / 1000} s`);
    const reason = await new Promise<string>((resolve) => {
      const finish = (why: string): void => {
        clearInterval(timer);
        this.cut = null;
        resolve(why);
      };
      const poll = (): void => {
        const now = this.counts();
        for (const key of Object.keys(now) as (keyof OpenCounts)[]) seen += Math.max(0, now[key] - previous[key]);
        if (total(now) !== total(previous)) notifyStatus(`draining: ${describe(now)} open`);
        previous = now;
        const elapsed = Date.now() - started;
        if (total(now) === 0 && elapsed >= Math.min(FIRST_REQUEST_GRACE_MS, timeoutMs)) finish('all-ended');
        else if (elapsed >= timeoutMs) finish('deadline');
      };
      const timer = setInterval(() => runGuarded(poller, 'drain poll', poll), POLL_MS);
      this.cut = () => finish('second-signal');
      runGuarded(poller, 'drain poll', poll);
    });
    const left = total(previous);
    log.info('drained', { why: reason, ended_by_themselves: seen - left, closing_now: left, ms: Date.now() - started });
  }

  /** A second signal: the running drain stops waiting. False when no drain runs. */
  end(): boolean {
    if (this.cut === null) return false;
    this.cut();
    return true;
  }
}
