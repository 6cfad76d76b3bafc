/*
 * Integers in framing configs, read the way the C plugins read them (strtoul/strtol base 0):
 * decimal, `0x` hex or leading-`0` octal, with an optional sign. Unlike strtoul, the whole
 * text must be the number (blanks around it aside), so `12abc` or `08` are errors, not 12 or 0.
 */

// C's isspace set, not \s: configs come from C-era files where only these count as blanks.
const C_INTEGER = /^[ \t\n\v\f\r]*([+-]?)(?:0[xX]([0-9a-fA-F]+)|(0[0-7]*)|([1-9][0-9]*))[ \t\n\v\f\r]*$/;

/** The integer `text` spells, or null when it is not exactly one integer within ±2^53. */
export function parseCInteger(text: string): number | null {
  const match = C_INTEGER.exec(text);
  if (match === null) return null;
  const [, sign, hex, octal, decimal] = match;
  let value: number;
  if (hex !== undefined) value = Number.parseInt(hex, 16);
  else if (octal !== undefined) value = Number.parseInt(octal, 8);
  else value = Number.parseInt(decimal ?? '', 10);
  if (!Number.isSafeInteger(value)) return null;
  // `-0` would print oddly in messages and means nothing more than 0.
  return sign === '-' && value !== 0 ? -value : value;
}

/** Describes the accepted spellings, for error messages. */
export const C_INTEGER_FORMS = 'decimal (16), hex (0x10) or octal (020)';
