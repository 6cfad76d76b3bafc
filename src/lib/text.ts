/*
 * Text from outside (request paths, headers, close reasons, peer addresses) on its way into a
 * log line or a close frame: control characters are escaped so that one value cannot forge or
 * break a line, and length is bounded so that one client cannot make a 70 KB log line.
 */

/** Escapes C0 controls, DEL and C1 controls as \xHH; cuts after `max` characters, saying how many more there were. */
export function printable(text: string, max = 256): string {
  const cut = text.length > max ? text.slice(0, max) : text;
  // eslint-disable-next-line no-control-regex
  const escaped = cut.replace(/[\x00-\x1f\x7f-\x9f\\]/g, (c) => (c === '\\' ? '\\\\' : `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`));
  return text.length > max ? `${escaped}…(+${text.length - max} chars)` : escaped;
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
