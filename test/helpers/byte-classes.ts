/*
 * The byte classes the json scanner skips, and a byte-at-a-time reference to check the word-
 * and vector-wide skippers against.
 */

/** The first index from `i` (before `end`) whose byte is not in the class, one byte at a time. */
export function reference(data: Uint8Array, i: number, end: number, inClass: (b: number) => boolean): number {
  while (i < end && inClass(data[i] as number)) i++;
  return i;
}

export const isDigit = (b: number): boolean => b >= 0x30 && b <= 0x39;
/** Printable ASCII inside a JSON string, but for the quote and the backslash. */
export const isPlain = (b: number): boolean => b >= 0x20 && b < 0x80 && b !== 0x22 && b !== 0x5c;
