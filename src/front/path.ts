/*
 * Request paths, normalised once at the edge so that routing, backends and upstreams all see
 * the same path and none can be steered by its spelling:
 *   - percent-encoded unreserved characters are decoded (`%2e` is `.`, RFC 3986 §6.2.2.2);
 *   - `.` and `..` segments are resolved (§5.2.4); climbing above the root is refused;
 *   - empty segments are dropped (`//x` is `/x`, as nginx's merge_slashes does), so a path
 *     never starts with `//` and can never be read as a host;
 *   - a trailing slash is kept (it matters to folders and to upstreams).
 * Refused outright (400): control characters, spaces, `\` and `#` anywhere; `%2F`, `%5C` and
 * `%00`, which a server behind us might decode into separators; `.;` and `..;` segments, which
 * some servers (Tomcat) read as `.` and `..`; and malformed percent escapes.
 */

export type NormalisedPath = { readonly path: string } | { readonly problem: string };

const UNRESERVED = /^[A-Za-z0-9\-._~]$/;
const FORBIDDEN_CHARACTER = /[\x00-\x20\x7f\\#]/;
const FORBIDDEN_ESCAPE = /%(?:2f|5c|00)/i;

/** Decodes the escapes of unreserved characters; null when an escape is malformed. */
function decodeUnreserved(segment: string): string | null {
  if (!segment.includes('%')) return segment;
  let out = '';
  for (let i = 0; i < segment.length; i++) {
    const char = segment[i] as string;
    if (char !== '%') {
      out += char;
      continue;
    }
    const hex = segment.slice(i + 1, i + 3);
    if (!/^[0-9a-fA-F]{2}$/.test(hex)) return null;
    const decoded = String.fromCharCode(parseInt(hex, 16));
    out += UNRESERVED.test(decoded) ? decoded : `%${hex.toUpperCase()}`;
    i += 2;
  }
  return out;
}

export function normalisePath(raw: string): NormalisedPath {
  if (!raw.startsWith('/')) return { problem: 'path does not start with /' };
  if (FORBIDDEN_CHARACTER.test(raw)) return { problem: 'path holds a control character, space, backslash or #' };
  if (FORBIDDEN_ESCAPE.test(raw)) return { problem: 'path holds an encoded /, \\ or NUL' };
  const segments: string[] = [];
  let trailingSlash = false;
  const parts = raw.split('/');
  for (let i = 1; i < parts.length; i++) {
    const segment = decodeUnreserved(parts[i] as string);
    if (segment === null) return { problem: 'path holds a malformed % escape' };
    const last = i === parts.length - 1;
    if (segment === '' || segment === '.') {
      trailingSlash = last;
      continue;
    }
    if (segment === '..') {
      if (segments.pop() === undefined) return { problem: 'path climbs above the root' };
      trailingSlash = last;
      continue;
    }
    if (/^\.\.?;/.test(segment)) return { problem: 'path holds a .; or ..; segment' };
    segments.push(segment);
    trailingSlash = false;
  }
  if (segments.length === 0) return { path: '/' };
  return { path: `/${segments.join('/')}${trailingSlash ? '/' : ''}` };
}
