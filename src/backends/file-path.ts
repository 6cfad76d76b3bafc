/*
 * Turns an expanded expression into a file name that is certainly inside the base directory.
 * Inserted values have no `/` (see templates.ts), but `..` as a whole value, or a `..` in the
 * expression itself, would still climb out: the normalised path is checked, not the text.
 */
import { isAbsolute, join, relative, sep } from 'node:path';

/** websocksy's limit for base + "/" + expansion (its static buffer); longer ones are skipped. */
export const MAX_PATH_BYTES = 8192;

/**
 * The file `expanded` names under `base` (an absolute, normalised path), or undefined when it
 * is too long, holds a NUL, or is not strictly inside `base`. Like websocksy's
 * `path + "/" + expression`, a leading `/` in the expression stays under `base`.
 */
export function resolveInside(base: string, expanded: string): string | undefined {
  if (Buffer.byteLength(base) + 1 + Buffer.byteLength(expanded) > MAX_PATH_BYTES) return undefined;
  if (expanded.includes('\0')) return undefined;
  const file = join(base, expanded);
  const inside = relative(base, file);
  const escapes = inside === '' || inside === '..' || inside.startsWith(`..${sep}`) || isAbsolute(inside);
  return escapes ? undefined : file;
}
