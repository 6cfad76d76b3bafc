/*
 * The status endpoints as the page calls them. The token lives in this tab's sessionStorage
 * and goes out only as `Authorization: Bearer` on the page's own fetch() calls: never in a URL
 * (logs, history, Referer) and never in a cookie, which a browser would attach to a request
 * another site makes; a bearer header it attaches to nothing by itself.
 */

import type { HistoryJson } from './history-json.js';

const TOKEN_KEY = 'websocksy-status-token';

/** The server wants a (different) token. */
export class Unauthorized extends Error {
  constructor() {
    super('the status token was refused');
    this.name = 'Unauthorized';
  }
}

/** Any other failure: the server is gone, or answered something else. */
export class RequestFailed extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'RequestFailed';
  }
}

export interface ConnectionJson {
  readonly id: number;
  readonly client: string;
  readonly via?: string;
  readonly endpoint: string;
  readonly peer: string;
  readonly since: string;
  readonly bytesToClient: number;
  readonly bytesToPeer: number;
}

/** A tunnel session this instance's tunnel server holds (tunnel/status.ts). */
export interface TunnelSessionJson {
  /** Its id's first 8 characters: what the close action names it by. */
  readonly session: string;
  readonly identity: string;
  readonly client: string;
  readonly state: string;
  readonly since: string;
  readonly streams: readonly unknown[];
  readonly bytesIn: number;
  readonly bytesOut: number;
}

/** A resumable session (session/session.ts status()). */
export interface SessionJson {
  readonly session: string;
  readonly client: string;
  readonly via?: string;
  readonly endpoint: string;
  readonly peer: string;
  readonly state: string;
  readonly since: string;
  readonly bytesToClient: number;
  readonly bytesToPeer: number;
}

/** The parts of the status JSON (server/server.ts status()) the page shows. */
export interface StatusJson {
  readonly connectionsTotal: number;
  readonly connections: readonly ConnectionJson[];
  readonly server: { readonly sessions: readonly TunnelSessionJson[] } | null;
  readonly sessions: readonly SessionJson[];
}

/** What the page can close, as the action's path names it. */
export type Closable = 'connections' | 'tunnels' | 'sessions';

export class StatusApi {
  constructor(private readonly base: string) {}

  get token(): string | null {
    return sessionStorage.getItem(TOKEN_KEY);
  }

  set token(token: string | null) {
    if (token === null) sessionStorage.removeItem(TOKEN_KEY);
    else sessionStorage.setItem(TOKEN_KEY, token);
  }

  status(): Promise<StatusJson> {
    return this.call(this.base, 'GET') as Promise<StatusJson>;
  }

  history(): Promise<HistoryJson> {
    return this.call(`${this.base}/history`, 'GET') as Promise<HistoryJson>;
  }

  async close(kind: Closable, id: string): Promise<void> {
    await this.call(`${this.base}/${kind}/${encodeURIComponent(id)}/close`, 'POST');
  }

  async drain(): Promise<void> {
    await this.call(`${this.base}/drain`, 'POST');
  }

  private async call(url: string, method: 'GET' | 'POST'): Promise<unknown> {
    const headers: Record<string, string> = { Accept: 'application/json' };
    const token = this.token;
    if (token !== null) headers['Authorization'] = `Bearer ${token}`;
    let response: Response;
    try {
      response = await fetch(url, { method, headers, cache: 'no-store', credentials: 'omit', redirect: 'error' });
    } catch {
      throw new RequestFailed('the server cannot be reached');
    }
    if (response.status === 401) throw new Unauthorized();
    if (!response.ok) throw new RequestFailed(`${response.status} ${(await response.text()).trim()}`);
    return response.json();
  }
}
