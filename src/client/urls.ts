/*
 * The URLs a session uses: the bridged URL in its WebSocket form (the upgrade) and its HTTP form
 * (the long-poll open), and the session path from the WELCOME on the same host and port, or
 * `resumeUrl` where a proxy in front puts it elsewhere.
 */

export interface UrlPair {
  readonly websocket: string;
  readonly http: string;
}

const TWIN: Readonly<Record<string, string>> = { 'ws:': 'http:', 'wss:': 'https:', 'http:': 'ws:', 'https:': 'wss:' };

function baseHref(): string | undefined {
  return (globalThis as { location?: { href?: string } }).location?.href;
}

/** Both forms of `url`, which may be ws(s) or http(s), and relative where there is a page. */
export function urlPair(url: string): UrlPair {
  let parsed: URL;
  try {
    parsed = new URL(url, baseHref());
  } catch {
    throw new SyntaxError(`not a URL: ${url}`);
  }
  const twin = TWIN[parsed.protocol];
  if (twin === undefined) throw new SyntaxError(`not a ws, wss, http or https URL: ${url}`);
  if (parsed.hash !== '') throw new SyntaxError(`a WebSocket URL has no fragment: ${url}`);
  const other = new URL(parsed.href);
  other.protocol = twin;
  return parsed.protocol.startsWith('ws') ? { websocket: parsed.href, http: other.href } : { websocket: other.href, http: parsed.href };
}

/** Where the session at `path` (from the WELCOME) is resumed: on the bridged URL's host and port. */
export function sessionUrls(bridged: UrlPair, path: string, resumeUrl: string | undefined): UrlPair {
  if (resumeUrl !== undefined) return urlPair(resumeUrl);
  const websocket = new URL(bridged.websocket);
  websocket.pathname = path;
  websocket.search = '';
  return urlPair(websocket.href);
}
