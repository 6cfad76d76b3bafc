/*
 * The Sec-WebSocket-Accept that answers a Sec-WebSocket-Key (RFC 6455 §4.2.2): the key with the
 * protocol's GUID appended, SHA-1, base64. websocksy's client checks a server's 101 against it.
 */
import { createHash } from 'node:crypto';

const GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';

export function websocketAccept(key: string): string {
  return createHash('sha1').update(key + GUID).digest('base64');
}
