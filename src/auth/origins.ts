/*
 * The Origin allow-list (`origins = https://app.example.org, https://*.example.org`): what stops
 * a page on another site from opening a WebSocket with the browser's cookies or credentials
 * (cross-site WebSocket hijacking). Browsers send Origin on every WebSocket handshake and on
 * cross-site requests; an entry is `scheme://host[:port]`, and `*.` as the host's first label
 * stands for one or more labels (it never matches the bare domain).
 */

interface OriginPattern {
  readonly scheme: string;
  /** Lower-case; for a wildcard, the part after `*` (starting with a dot). */
  readonly host: string;
  readonly wildcard: boolean;
  /** '' for the scheme's default port. */
  readonly port: string;
}

const DEFAULT_PORTS: Readonly<Record<string, string>> = { http: '80', https: '443' };
const ORIGIN = /^([a-z][a-z0-9+.-]*):\/\/(\[[0-9a-f:.]+\]|[a-z0-9_.*-]+)(?::(\d{1,5}))?$/;

/** The parts of an origin as browsers serialise it, lower-cased, or null when it is not one. */
function parts(text: string): OriginPattern | null {
  const match = ORIGIN.exec(text.trim().toLowerCase());
  if (match === null) return null;
  const scheme = match[1] as string;
  const rawHost = match[2] as string;
  const port = match[3] ?? '';
  const wildcard = rawHost.startsWith('*.');
  const host = wildcard ? rawHost.slice(1) : rawHost;
  if (host.includes('*')) return null;
  return { scheme, host, wildcard, port: port === DEFAULT_PORTS[scheme] ? '' : port };
}

export class OriginList {
  private constructor(private readonly patterns: readonly OriginPattern[]) {}

  /** Throws an Error naming the entry that is not `scheme://host[:port]`. */
  static parse(value: string): OriginList {
    const patterns = value.split(',').map((entry) => entry.trim()).filter((entry) => entry !== '').map((entry) => {
      const pattern = parts(entry);
      if (pattern === null || (pattern.wildcard && pattern.host.length < 2)) {
        throw new Error(`"${entry}" is not an origin such as https://app.example.org or https://*.example.org (scheme, host and port only)`);
      }
      return pattern;
    });
    if (patterns.length === 0) throw new Error('the list is empty');
    return new OriginList(patterns);
  }

  /** True when the request's Origin header value is in the list (`null`, sent by sandboxed pages, never is). */
  allows(origin: string): boolean {
    const given = parts(origin);
    if (given === null || given.wildcard) return false;
    return this.patterns.some(
      (pattern) =>
        pattern.scheme === given.scheme &&
        pattern.port === given.port &&
        (pattern.wildcard ? given.host.endsWith(pattern.host) && given.host.length > pattern.host.length : given.host === pattern.host),
    );
  }
}
