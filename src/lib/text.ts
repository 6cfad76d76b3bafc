/*
 * Text from outside (request paths, headers, close reasons, peer addresses) on its way into a
 * log line or a close frame: control characters are escaped so that one value cannot forge or
 * break a line, and length is bounded so that one client cannot make a 70 KB log line.
 */

/**
 * What may not stand in a log line as itself: C0 controls, DEL, C1 controls (NEL among them),
 * the Unicode line and paragraph separators, and the bidirectional overrides and isolates,
 * which can make a line read in another order than it was written.
 */
// eslint-disable-next-line no-control-regex
const UNPRINTABLE = /[\x00-\x1f\x7f-\x9f\\\u2028\u2029\u202a-\u202e\u2066-\u2069]/g;

function escapeOne(c: string): string {
  if (c === '\\') return '\\\\';
  const code = c.charCodeAt(0);
  return code <= 0xff ? `\\x${code.toString(16).padStart(2, '0')}` : `\\u${code.toString(16)}`;
}

/**
 * Escapes what UNPRINTABLE names (\xHH, \uHHHH) and backslashes; cuts after `max` characters
 * (never inside a surrogate pair), saying how many more there were.
 */
export function printable(text: string, max = 256): string {
  let cut = text.length > max ? text.slice(0, max) : text;
  if (cut.length < text.length && /[\ud800-\udbff]$/.test(cut)) cut = cut.slice(0, -1);
  const escaped = cut.replace(UNPRINTABLE, escapeOne);
  return cut.length < text.length ? `${escaped}…(+${text.length - cut.length} chars)` : escaped;
}

/**
 * A WebSocket close reason: at most 123 bytes of UTF-8 (RFC 6455 §5.5: control frames carry at
 * most 125 bytes, two of them the code), cut on a character boundary.
 */
export function closeReason(reason: string): string {
  if (Buffer.byteLength(reason) <= 123) return reason;
  let cut = reason.slice(0, 120);
  while (Buffer.byteLength(cut) > 120) cut = cut.slice(0, -1);
  // A lone high surrogate at the cut would encode as U+FFFD (3 bytes): drop it too.
  if (/[\ud800-\udbff]$/.test(cut)) cut = cut.slice(0, -1);
  return `${cut}...`;
}
