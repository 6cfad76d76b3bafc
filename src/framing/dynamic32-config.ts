/*
 * The `dynamic32` framing config: comma-separated `offset=<n>`, `static=<n>` and
 * `endian=big|little`, each at most once, blanks around items allowed; numbers as in C
 * (decimal, 0x hex, 0 octal). Missing items take their defaults (0, 0, little). The original
 * spun forever on any comma and read anything not starting with `big` as little.
 */
import { C_INTEGER_FORMS, parseCInteger } from './c-integer.js';

export interface Dynamic32Config {
  /** Where the 32-bit length field starts. */
  readonly offset: number;
  /** Added to the length field; may be negative. */
  readonly extra: number;
  readonly bigEndian: boolean;
}

const KEYS = 'offset=<n>, static=<n>, endian=big|little';

/** Parses `config`; throws an Error saying which item is wrong. */
export function parseDynamic32(config: string | null): Dynamic32Config {
  let offset = 0;
  let extra = 0;
  let bigEndian = false;
  if (config === null || config.trim() === '') return { offset, extra, bigEndian };
  const seen = new Set<string>();
  for (const rawItem of config.split(',')) {
    const item = rawItem.trim();
    const where = `dynamic32 framing-config "${config}": `;
    const equals = item.indexOf('=');
    if (equals < 0) throw new Error(`${where}item "${item}" is not key=value; accepted items are ${KEYS}`);
    const key = item.slice(0, equals).trim();
    const value = item.slice(equals + 1).trim();
    if (seen.has(key)) throw new Error(`${where}${key} is given twice`);
    seen.add(key);
    if (key === 'endian') {
      if (value !== 'big' && value !== 'little') throw new Error(`${where}endian must be big or little, not "${value}"`);
      bigEndian = value === 'big';
    } else if (key === 'offset' || key === 'static') {
      const number = parseCInteger(value);
      if (number === null) throw new Error(`${where}${key} "${value}" is not a number; write it ${C_INTEGER_FORMS}`);
      if (key === 'offset') {
        if (number < 0) throw new Error(`${where}offset must not be negative, got ${number}`);
        offset = number;
      } else {
        extra = number;
      }
    } else {
      throw new Error(`${where}unknown key "${key}"; accepted items are ${KEYS}`);
    }
  }
  return { offset, extra, bigEndian };
}
