/*
 * Getting the session a transport: attempts to open it (the bridged URL) or to resume it (the
 * session path), each over WebSocket and, when the upgrade failed, HTTP; between attempts a
 * jittered backoff, until one succeeds, a failure is final, or the deadline passes.
 */
import { backoffDelay } from './backoff.js';
import type { Welcome } from './control.js';
import { openHttp, resumeHttp } from './http-connect.js';
import type { HttpSession } from './http-transport.js';
import type { ResolvedOptions } from './options.js';
import { ABNORMAL_CLOSURE, AttemptFailure, type Handshake } from './transport.js';
import { sessionUrls, type UrlPair } from './urls.js';
import { connectWebSocket } from './websocket-connect.js';

/** The longest one attempt (connect and handshake) may take: the server's own HELLO limit. */
const ATTEMPT_TIMEOUT_MS = 10_000;

/** What resuming a session needs. */
export interface SessionKeys {
  readonly welcome: Welcome;
  readonly secret: string;
  readonly urls: UrlPair;
}

export type Outcome =
  | { readonly handshake: Handshake; readonly attempts: number }
  | {
      readonly failure: AttemptFailure | undefined;
      readonly attempts: number;
      /** The deadline passed (rather than the retries running out, or a failure being final). */
      readonly outOfTime: boolean;
    };

type Attempt = (timeoutMs: number) => Promise<Handshake>;

export class Connector {
  constructor(
    private readonly options: ResolvedOptions,
    private readonly bridged: UrlPair,
  ) {}

  /** The session's URLs once its WELCOME names its path. */
  urlsOf(welcome: Welcome): UrlPair {
    return sessionUrls(this.bridged, welcome.path, this.options.resumeUrl);
  }

  /** Opens a session within `timeoutMs`: the first attempt goes at once. */
  open(signal: AbortSignal): Promise<Outcome> {
    const fetch = this.options.fetch;
    return this.run(Date.now() + this.options.timeoutMs, false, signal, (timeoutMs) =>
      this.overTransports({
        websocket: (WebSocket) => connectWebSocket({ WebSocket, url: this.bridged.websocket, protocols: this.options.protocols, hello: undefined, timeoutMs, signal }),
        http: fetch && (() => openHttp({ fetch, url: this.bridged.http, protocols: this.options.protocols, sessionUrl: (welcome) => httpSession(fetch, welcome, this.urlsOf(welcome), welcome.secret ?? '').url, timeoutMs, signal })),
      }),
    );
  }

  /**
   * Resumes `session` before `deadline`. The first attempt waits too (under minDelayMs), so
   * that the clients a restarted server dropped spread out. `received()` is read at each
   * attempt: data bytes the client has from the server.
   */
  resume(session: SessionKeys, received: () => number, deadline: number, signal: AbortSignal): Promise<Outcome> {
    const fetch = this.options.fetch;
    return this.run(deadline, true, signal, (timeoutMs) =>
      this.overTransports({
        websocket: (WebSocket) => {
          const hello = { session: session.welcome.session, secret: session.secret, received: received(), takeover: true };
          return connectWebSocket({ WebSocket, url: session.urls.websocket, protocols: [], hello, timeoutMs, signal });
        },
        http: fetch && (() => resumeHttp({ session: httpSession(fetch, session.welcome, session.urls, session.secret), received: received(), timeoutMs, signal })),
      }),
    );
  }

  private async run(deadline: number, waitFirst: boolean, signal: AbortSignal, attempt: Attempt): Promise<Outcome> {
    let failure: AttemptFailure | undefined;
    let attempts = 0;
    while (attempts <= this.options.maxRetries) {
      if (attempts > 0 || waitFirst) {
        const delay = backoffDelay(attempts, this.options.minDelayMs, this.options.maxDelayMs);
        if (Date.now() + delay >= deadline) return { failure, attempts, outOfTime: true };
        await sleep(delay, signal);
      }
      attempts += 1;
      try {
        return { handshake: await attempt(Math.max(1, Math.min(ATTEMPT_TIMEOUT_MS, deadline - Date.now()))), attempts };
      } catch (error) {
        failure = asFailure(error);
      }
      if (failure.fatal || signal.aborted) break;
    }
    return { failure, attempts, outOfTime: false };
  }

  /** One attempt over each transport in turn: HTTP gets its turn when the upgrade failed. */
  private async overTransports(ways: { websocket: (WebSocket: NonNullable<ResolvedOptions['WebSocket']>) => Promise<Handshake>; http: (() => Promise<Handshake>) | undefined }): Promise<Handshake> {
    let failure: AttemptFailure | undefined;
    for (const kind of this.options.transports) {
      if (failure !== undefined && !failure.beforeUpgrade) break;
      try {
        const WebSocket = this.options.WebSocket;
        if (kind === 'websocket' && WebSocket !== undefined) return await ways.websocket(WebSocket);
        if (kind === 'http' && ways.http !== undefined) return await ways.http();
      } catch (error) {
        failure = asFailure(error);
        if (failure.fatal) break;
      }
    }
    throw failure ?? new AttemptFailure(ABNORMAL_CLOSURE, 'no transport to try', true);
  }
}

function httpSession(fetch: NonNullable<ResolvedOptions['fetch']>, welcome: Welcome, urls: UrlPair, secret: string): HttpSession {
  return { fetch, url: `${urls.http.replace(/\/+$/, '')}/${encodeURIComponent(welcome.session)}`, secret, window: welcome.window };
}

function asFailure(error: unknown): AttemptFailure {
  return error instanceof AttemptFailure ? error : new AttemptFailure(ABNORMAL_CLOSURE, String(error), false);
}

/** Resolves after `ms`, or at once when `signal` aborts. */
function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const done = (): void => {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal.addEventListener('abort', done);
  });
}
