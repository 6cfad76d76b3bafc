/*
 * From the part of a request path below a static route's prefix to the names of the file in
 * the folder. The front has normalised the path already (no dot or empty segments, no encoded
 * separators); these checks stay so that the folder is safe on its own: a path is decoded
 * segment by segment and refused if any segment decodes to `..` or holds a slash, backslash or
 * NUL (`..%2f`, `%5c`). Names beginning with a dot (`.env`, `.git/`) are hidden, except a
 * top-level `.well-known/` (RFC 8615), whose own dotfiles stay hidden.
 */
export type StaticPath =
  /** `folder`: the path ended with `/` (it names a folder, whose index.html is served). */
  | { readonly kind: 'names'; readonly names: readonly string[]; readonly folder: boolean }
  | { readonly kind: 'refused'; readonly why: string };

/** `rest` still percent-encoded, '' or starting with `/`. */
export function staticNames(rest: string): StaticPath {
  const names: string[] = [];
  for (const segment of rest.split('/')) {
    let decoded: string;
    try {
      decoded = decodeURIComponent(segment);
    } catch {
      return { kind: 'refused', why: 'badly encoded' };
    }
    if (decoded === '' || decoded === '.') continue;
    if (decoded === '..' || /[/\\\0]/.test(decoded)) return { kind: 'refused', why: 'leaves the folder' };
    names.push(decoded);
  }
  return { kind: 'names', names, folder: rest.endsWith('/') };
}

/** True when one of `names` (a path inside the folder, top first) is a dotfile or dot-folder. */
export function hidden(names: readonly string[]): boolean {
  return names.some((name, depth) => name.startsWith('.') && !(depth === 0 && name === '.well-known'));
}
