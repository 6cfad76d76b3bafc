/*
 * The PROXY protocol v2 header a proxy may send before the first byte of HTTP or TLS
 * (haproxy.org/download/2.9/doc/proxy-protocol.txt §2.2). uWS reads it when present and reports
 * the source address it carries (getProxiedRemoteAddressAsText); a connection without one is
 * served as it is. Whether to believe it is websocksy's decision (front/client-address.ts), not
 * the engine's: this only reads it.
 */

const SIGNATURE = Buffer.from([0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a]);
/** Signature, version and command, family, length. */
const FIXED_LENGTH = 16;
const COMMAND_PROXY = 0x21;
const COMMAND_LOCAL = 0x20;
const FAMILY_TCP4 = 0x11;
const FAMILY_TCP6 = 0x21;

export type ProxyHeaderRead =
  /** More bytes are needed to tell. */
  | { readonly kind: 'incomplete' }
  /** No header: the bytes are the connection's own. */
  | { readonly kind: 'none' }
  /** A header of `length` bytes; `source` is the client address it names ('' for LOCAL or another family). */
  | { readonly kind: 'header'; readonly length: number; readonly source: string }
  | { readonly kind: 'malformed'; readonly why: string };

function ipv6Text(bytes: Buffer, offset: number): string {
  const groups: string[] = [];
  for (let i = 0; i < 16; i += 2) groups.push(bytes.readUInt16BE(offset + i).toString(16));
  return groups.join(':');
}

/** Reads a PROXY v2 header at the start of `bytes`, the first bytes a connection sent. */
export function readProxyHeader(bytes: Buffer): ProxyHeaderRead {
  const compared = Math.min(bytes.length, SIGNATURE.length);
  if (!bytes.subarray(0, compared).equals(SIGNATURE.subarray(0, compared))) return { kind: 'none' };
  if (bytes.length < FIXED_LENGTH) return { kind: 'incomplete' };
  const command = bytes[12] as number;
  const family = bytes[13] as number;
  const length = FIXED_LENGTH + bytes.readUInt16BE(14);
  if (command !== COMMAND_PROXY && command !== COMMAND_LOCAL) return { kind: 'malformed', why: `version/command byte 0x${command.toString(16)}` };
  if (bytes.length < length) return { kind: 'incomplete' };
  if (command === COMMAND_LOCAL) return { kind: 'header', length, source: '' };
  if (family === FAMILY_TCP4) {
    if (length < FIXED_LENGTH + 12) return { kind: 'malformed', why: 'TCP over IPv4 header too short' };
    return { kind: 'header', length, source: `${bytes[16]}.${bytes[17]}.${bytes[18]}.${bytes[19]}` };
  }
  if (family === FAMILY_TCP6) {
    if (length < FIXED_LENGTH + 36) return { kind: 'malformed', why: 'TCP over IPv6 header too short' };
    return { kind: 'header', length, source: ipv6Text(bytes, FIXED_LENGTH) };
  }
  return { kind: 'header', length, source: '' };
}
