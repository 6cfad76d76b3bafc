/*
 * The WebSocket side of a request (RFC 6455 §4.2.1), checked after the request itself
 * (request-reader.ts): GET, `Upgrade: websocket`, `Connection: upgrade`, version 13, a
 * Sec-WebSocket-Key that is the base64 of 16 bytes, and subprotocols that are tokens (`ws`
 * throws on any other when a relay offers them to its remote). uWS hands its WebSocket routes only
 * requests with a 24-character key and routes others to plain HTTP handlers; those land here
 * too, through looksLikeUpgrade, so that every broken handshake gets its own answer.
 */
import { Refusal } from '../core/refusal.js';
import { headerValue, offeredProtocols, type ClientRequest } from '../core/request.js';

const BASE64_OF_16_BYTES = /^[A-Za-z0-9+/]{21}[AQgw]==$/;
/** RFC 9110 §5.6.2; RFC 6455 §4.1 wants each subprotocol to be one. */
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;

function hasToken(header: string | undefined, token: string): boolean {
  if (header === undefined) return false;
  // Nearly every client sends the token alone: no list to split.
  if (header.length === token.length && header.toLowerCase() === token) return true;
  return header.split(',').some((part) => part.trim().toLowerCase() === token);
}

/**
 * The one upgrade detector: the client asked for a WebSocket, well or badly. An Upgrade to
 * anything else (`h2c`, which curl --http2 and Java's HttpClient offer on every cleartext
 * request) is ignored, as RFC 9110 §7.8 lets a server do, and the request served as plain HTTP.
 */
export function looksLikeUpgrade(request: ClientRequest): boolean {
  return headerValue(request, 'sec-websocket-key') !== undefined || hasToken(headerValue(request, 'upgrade'), 'websocket');
}

/** Why `request` is not a WebSocket handshake we accept, or null. */
export function checkHandshake(request: ClientRequest): Refusal | null {
  if (request.method !== 'GET') {
    return new Refusal('method', 405, 'Method not allowed: WebSocket handshakes use GET', `method ${request.method}`, { Allow: 'GET' });
  }
  const version = headerValue(request, 'sec-websocket-version');
  if (version !== '13') {
    return new Refusal('bad-handshake', 426, 'Unsupported WebSocket version (use 13)', `Sec-WebSocket-Version "${version ?? ''}"`, { 'Sec-WebSocket-Version': '13' });
  }
  if (!hasToken(headerValue(request, 'upgrade'), 'websocket') || !hasToken(headerValue(request, 'connection'), 'upgrade')) {
    return new Refusal('bad-handshake', 400, 'Bad WebSocket handshake: Upgrade and Connection headers required', 'missing Upgrade or Connection header');
  }
  const key = headerValue(request, 'sec-websocket-key');
  if (key === undefined || !BASE64_OF_16_BYTES.test(key)) {
    return new Refusal('bad-handshake', 400, 'Bad WebSocket handshake: missing or malformed Sec-WebSocket-Key', 'Sec-WebSocket-Key is not the base64 of 16 bytes');
  }
  const badProtocol = offeredProtocols(request).find((name) => !TOKEN.test(name));
  if (badProtocol !== undefined) {
    return new Refusal('bad-handshake', 400, 'Bad WebSocket handshake: Sec-WebSocket-Protocol must list tokens', `subprotocol "${badProtocol}" is not a token`);
  }
  return null;
}
