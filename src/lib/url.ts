/*
 * URLs a configuration names (route upstreams, remote WebSockets, tunnel servers): one checker,
 * so that every such URL is held to the same rules and the error says which rule it broke.
 */

export interface UrlRules {
  /** Accepted schemes with their colon, e.g. ['ws:', 'wss:']. */
  readonly schemes: readonly string[];
  /** `user@` in the URL (`websocksy forward` reads the identity from it); refused otherwise. */
  readonly credentials?: boolean;
  /** A query string; refused otherwise (routes send the client's own). */
  readonly query?: boolean;
}

export function parseConfigUrl(text: string, rules: UrlRules): URL {
  const value = text.trim();
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new Error(`"${text}" is not a URL`);
  }
  if (!rules.schemes.includes(url.protocol)) {
    throw new Error(`"${text}" is not a ${rules.schemes.map((scheme) => `${scheme}//`).join(' or ')} URL`);
  }
  if (url.hostname === '') throw new Error(`"${text}" has no host`);
  if (rules.credentials !== true && (url.username !== '' || url.password !== '')) throw new Error(`"${text}" carries credentials, which are not sent`);
  if (url.password !== '') throw new Error(`"${text}" carries a password: give the token with token or token-file`);
  if (rules.query !== true && url.search !== '') throw new Error(`"${text}" has a query string; the client's own query is what goes upstream`);
  if (url.hash !== '') throw new Error(`"${text}" has a fragment`);
  return url;
}

/** The host of a URL as sockets want it: without the brackets of an IPv6 literal. */
export function socketHost(url: URL): string {
  return url.hostname.replace(/^\[(.*)\]$/, '$1');
}

/** The URL's port, or its scheme's default. */
export function portOf(url: URL): number {
  if (url.port !== '') return Number(url.port);
  return url.protocol === 'https:' || url.protocol === 'wss:' ? 443 : 80;
}
