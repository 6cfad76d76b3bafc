/*
 * uWS's URL patterns as websocksy registers them: an exact path (`/tunnel`), or a prefix ending
 * in `/*` that matches everything below it (`/api/*`, `/*`). As in uWS, the most specific
 * pattern wins: an exact match first, then the longest prefix. Matching is on the raw path,
 * before websocksy's own normalisation (front/path.ts), as uWS matches.
 */
export class Router<T> {
  private readonly exact = new Map<string, T>();
  /** Prefixes with their trailing `*` removed (`/api/`), longest first. */
  private readonly prefixes: Array<{ readonly prefix: string; readonly value: T }> = [];

  add(pattern: string, value: T): void {
    if (pattern.endsWith('/*')) {
      const prefix = pattern.slice(0, -1);
      if (this.prefixes.some((entry) => entry.prefix === prefix)) throw new Error(`pattern ${pattern} registered twice`);
      this.prefixes.push({ prefix, value });
      this.prefixes.sort((a, b) => b.prefix.length - a.prefix.length);
      return;
    }
    if (pattern.includes('*') || pattern.includes('/:')) throw new Error(`pattern ${pattern}: the JS engine knows exact paths and trailing /* only`);
    if (this.exact.has(pattern)) throw new Error(`pattern ${pattern} registered twice`);
    this.exact.set(pattern, value);
  }

  match(path: string): T | undefined {
    const exact = this.exact.get(path);
    if (exact !== undefined) return exact;
    for (const { prefix, value } of this.prefixes) if (path.startsWith(prefix)) return value;
    return undefined;
  }
}
