/*
 * The Range header of a GET (RFC 9110 §14.2), for a representation of `size` bytes. One range
 * is served as 206; several are answered with the whole representation (200), which §14.2
 * allows and which spares us multipart/byteranges bodies and the overlapping-range tricks that
 * make servers send a file many times over. A header that is not a valid `bytes=` set is
 * ignored (200), as §14.2 also allows; only a valid range that starts past the end is 416.
 */

/** What to send: the whole representation, bytes `first`..`last` (both included), or 416. */
export type RangeAnswer =
  | { readonly kind: 'whole' }
  | { readonly kind: 'part'; readonly first: number; readonly last: number }
  | { readonly kind: 'unsatisfiable' };

const WHOLE: RangeAnswer = { kind: 'whole' };
const SPEC = /^(\d*)-(\d*)$/;

/** One byte-range-spec or suffix-range: the bytes it selects, 'unsatisfiable', or null when malformed. */
function rangeOf(spec: string, size: number): { first: number; last: number } | 'unsatisfiable' | null {
  const match = SPEC.exec(spec);
  if (match === null) return null;
  const [from, to] = [match[1] ?? '', match[2] ?? ''];
  if (from === '') {
    // `-n`: the last n bytes; all of them when n is the size or more.
    if (to === '') return null;
    const suffix = Number(to);
    return suffix === 0 || size === 0 ? 'unsatisfiable' : { first: Math.max(0, size - suffix), last: size - 1 };
  }
  const first = Number(from);
  const last = to === '' ? Infinity : Number(to);
  if (last < first) return null;
  return first >= size ? 'unsatisfiable' : { first, last: Math.min(last, size - 1) };
}

/** `values`: every Range header line of the request, in order (none: the whole representation). */
export function rangeAnswer(values: readonly string[], size: number): RangeAnswer {
  if (values.length !== 1) return WHOLE;
  const value = (values[0] as string).trim();
  const equals = value.indexOf('=');
  if (equals < 0 || value.slice(0, equals).trim().toLowerCase() !== 'bytes') return WHOLE;
  // A list may hold empty elements (RFC 9110 §5.6.1): `bytes=0-9,` is one range.
  const specs = value.slice(equals + 1).split(',').map((spec) => spec.trim()).filter((spec) => spec !== '');
  if (specs.length !== 1) return WHOLE;
  const range = rangeOf(specs[0] as string, size);
  if (range === null) return WHOLE;
  return range === 'unsatisfiable' ? { kind: 'unsatisfiable' } : { kind: 'part', ...range };
}
