/*
 * Which WebSocket close codes a close frame may carry: the one check for codes websocksy sends
 * on and for codes a server's close frame brings.
 */

/** Codes a close frame may carry (RFC 6455 §7.4, and the registry's 1012–1014); others (1005, 1006, 1015) are only reported. */
export function sendableCloseCode(code: number): boolean {
  return (code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1014) || (code >= 3000 && code <= 4999);
}
