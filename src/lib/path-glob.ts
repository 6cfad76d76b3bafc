/*
 * Unix socket paths in destination allow-lists. A requested path is normalised (`//` and `/./`
 * dropped) and refused outright when it is relative or climbs with `..`: it could otherwise
 * leave the folder a rule names while its text still looks inside. A glob's `*` matches within
 * one path segment (never a `/`); a segment that is exactly `**` matches any number of whole
 * segments, none included (`/run/vnc/**` is everything under /run/vnc).
 */

export type NormalisedPath = { readonly path: string } | { readonly problem: string };

/** `path` with empty and `.` segments dropped; a problem when it is relative, holds NUL or `..`. */
export function normaliseSocketPath(path: string): NormalisedPath {
  if (!path.startsWith('/')) return { problem: `"${path}" is not an absolute path` };
  if (path.includes('\0')) return { problem: 'the path holds a NUL byte' };
  const segments = path.split('/').filter((segment) => segment !== '' && segment !== '.');
  if (segments.includes('..')) return { problem: `"${path}" climbs with ..` };
  return { path: `/${segments.join('/')}` };
}

type Segment = { readonly kind: 'any-depth' } | { readonly kind: 'one'; readonly pattern: RegExp };

function segmentOf(text: string): Segment {
  if (text === '**') return { kind: 'any-depth' };
  if (text.includes('**')) throw new Error(`"${text}": ** stands only as a whole segment (/**/)`);
  const source = text.split('*').map((part) => part.replace(/[.+?^${}()|[\]\\]/g, '\\$&')).join('[^/]*');
  return { kind: 'one', pattern: new RegExp(`^${source}$`) };
}

export class PathGlob {
  private constructor(
    readonly text: string,
    private readonly segments: readonly Segment[],
  ) {}

  /** An absolute glob without `.`, `..` or empty segments; throws saying what is wrong. */
  static parse(text: string): PathGlob {
    if (!text.startsWith('/')) throw new Error(`"${text}" is not an absolute path`);
    const parts = text.slice(1).split('/');
    if (parts.some((part) => part === '' || part === '.' || part === '..')) throw new Error(`"${text}" has an empty, . or .. segment`);
    return new PathGlob(text, parts.map(segmentOf));
  }

  /** True for a normalised path (normaliseSocketPath) that the glob covers. */
  matches(path: string): boolean {
    return this.matchFrom(0, path.slice(1).split('/'), 0);
  }

  private matchFrom(index: number, parts: readonly string[], at: number): boolean {
    const segment = this.segments[index];
    if (segment === undefined) return at === parts.length;
    if (segment.kind === 'any-depth') {
      for (let next = at; next <= parts.length; next++) if (this.matchFrom(index + 1, parts, next)) return true;
      return false;
    }
    const part = parts[at];
    return part !== undefined && segment.pattern.test(part) && this.matchFrom(index + 1, parts, at + 1);
  }
}
