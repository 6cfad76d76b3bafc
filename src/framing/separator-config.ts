/*
 * The `separator` framing config: the separator's bytes, written with the escapes
 * \r \t \n \0 \f \\ and \xHH; other characters stand for their UTF-8 bytes. The original
 * read \xHH from the second hex digit and turned unknown escapes into a bare backslash;
 * here every malformed escape is an error naming its position.
 */

const ESCAPES = new Map<string, number>([
  ['r', 0x0d],
  ['t', 0x09],
  ['n', 0x0a],
  ['0', 0x00],
  ['f', 0x0c],
  ['\\', 0x5c],
]);

const HEX_PAIR = /^[0-9a-fA-F]{2}$/;

export const SEPARATOR_ESCAPES = '\\r \\t \\n \\0 \\f \\\\ \\xHH';

/** The bytes `config` spells; throws an Error saying what is wrong with it. */
export function parseSeparator(config: string | null): Uint8Array {
  if (config === null) {
    throw new Error(`separator needs a framing-config: the separator, such as \\r\\n (escapes: ${SEPARATOR_ESCAPES})`);
  }
  const bytes: number[] = [];
  let literalStart = 0;
  const flushLiteral = (end: number): void => {
    if (end > literalStart) bytes.push(...Buffer.from(config.slice(literalStart, end), 'utf8'));
  };
  for (let i = 0; i < config.length; i++) {
    if (config[i] !== '\\') continue;
    flushLiteral(i);
    const escape = config[i + 1];
    const where = `separator config "${config}": `;
    if (escape === undefined) throw new Error(`${where}lone \\ at the end; write \\\\ for a backslash`);
    if (escape === 'x') {
      const hex = config.slice(i + 2, i + 4);
      if (!HEX_PAIR.test(hex)) {
        throw new Error(`${where}\\x at position ${i} needs two hex digits, such as \\x0a`);
      }
      bytes.push(Number.parseInt(hex, 16));
      i += 3;
    } else {
      const value = ESCAPES.get(escape);
      if (value === undefined) {
        throw new Error(`${where}unknown escape \\${escape} at position ${i}; accepted escapes are ${SEPARATOR_ESCAPES}`);
      }
      bytes.push(value);
      i += 1;
    }
    literalStart = i + 1;
  }
  flushLiteral(config.length);
  return Uint8Array.from(bytes);
}
