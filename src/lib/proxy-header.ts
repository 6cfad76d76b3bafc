/*
 * The PROXY protocol header (HAProxy's proxy-protocol.txt, versions 1 and 2) that websocksy
 * writes before the first byte of a stream peer connection, so that the peer learns the real
 * client's address. Built once per connection, never per message.
 *
 * Both ends must be of one family: two IPv4 addresses make TCP4; otherwise both are written as
 * IPv6, an IPv4 one as its IPv4-mapped form (`::ffff:a.b.c.d`). An end that is not an IP
 * address (there is none) makes the header say so: v1 `UNKNOWN`, v2 the LOCAL command.
 */
import { isIP, type Socket } from 'node:net';

export type ProxyVersion = 'v1' | 'v2';

/** `off`, `v1` or `v2`, as settings, peer answers and peer-file lines spell it. */
export function parseProxyVersion(text: string): ProxyVersion | 'off' {
  const value = text.trim().toLowerCase();
  if (value === 'off') return 'off';
  if (value === 'v1' || value === 'v2') return value;
  throw new Error(`"${text}" is not a PROXY protocol version (off, v1 or v2)`);
}

export interface ProxyEndpoint {
  readonly address: string;
  /** 0 when unknown (uWS does not tell a client's port). */
  readonly port: number;
}

const V2_SIGNATURE = Buffer.from([0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a]);
const V2_PROXY = 0x21;
const V2_LOCAL = 0x20;
const V2_TCP4 = 0x11;
const V2_TCP6 = 0x21;

/** The IPv4 address an address is or carries (`::ffff:a.b.c.d`), or null. */
function ipv4Of(address: string): string | null {
  if (isIP(address) === 4) return address;
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address)?.[1];
  return mapped !== undefined && isIP(mapped) === 4 ? mapped : null;
}

function ipv4Bytes(address: string, into: Buffer, offset: number): void {
  const parts = address.split('.');
  for (let i = 0; i < 4; i++) into[offset + i] = Number(parts[i]);
}

/** The 16 bytes of an IPv6 address (dotted IPv4 tails too); `address` is known valid. */
function ipv6Bytes(address: string, into: Buffer, offset: number): void {
  const text = address.replace(/%.*$/, '');
  const [head = '', tail] = text.split('::');
  const groupsOf = (part: string): string[] => (part === '' ? [] : part.split(':'));
  const words: number[] = [];
  const push = (groups: string[]): void => {
    for (const group of groups) {
      if (group.includes('.')) {
        const bytes = group.split('.').map(Number);
        words.push(((bytes[0] ?? 0) << 8) | (bytes[1] ?? 0), ((bytes[2] ?? 0) << 8) | (bytes[3] ?? 0));
      } else words.push(parseInt(group, 16));
    }
  };
  const headGroups = groupsOf(head);
  const tailGroups = tail === undefined ? [] : groupsOf(tail);
  push(headGroups);
  const before = words.length;
  push(tailGroups);
  const tailWords = words.splice(before);
  while (words.length + tailWords.length < 8) words.push(0);
  words.push(...tailWords);
  for (let i = 0; i < 8; i++) into.writeUInt16BE(words[i] ?? 0, offset + 2 * i);
}

/** Both ends in one family, or null when either is not an IP address. */
function sameFamily(source: ProxyEndpoint, destination: ProxyEndpoint): { family: 4 | 6; source: string; destination: string } | null {
  const sourceFamily = isIP(source.address.replace(/%.*$/, ''));
  const destinationFamily = isIP(destination.address.replace(/%.*$/, ''));
  if (sourceFamily === 0 || destinationFamily === 0) return null;
  const source4 = ipv4Of(source.address);
  const destination4 = ipv4Of(destination.address);
  if (source4 !== null && destination4 !== null) return { family: 4, source: source4, destination: destination4 };
  const as6 = (address: string, v4: string | null): string => (v4 !== null ? `::ffff:${v4}` : address.replace(/%.*$/, ''));
  return { family: 6, source: as6(source.address, source4), destination: as6(destination.address, destination4) };
}

function headerV1(source: ProxyEndpoint, destination: ProxyEndpoint): Buffer {
  const ends = sameFamily(source, destination);
  if (ends === null) return Buffer.from('PROXY UNKNOWN\r\n', 'latin1');
  const family = ends.family === 4 ? 'TCP4' : 'TCP6';
  return Buffer.from(`PROXY ${family} ${ends.source} ${ends.destination} ${source.port} ${destination.port}\r\n`, 'latin1');
}

function headerV2(source: ProxyEndpoint, destination: ProxyEndpoint): Buffer {
  const ends = sameFamily(source, destination);
  const addressBytes = ends === null ? 0 : ends.family === 4 ? 12 : 36;
  const header = Buffer.alloc(16 + addressBytes);
  V2_SIGNATURE.copy(header, 0);
  header[12] = ends === null ? V2_LOCAL : V2_PROXY;
  header[13] = ends === null ? 0 : ends.family === 4 ? V2_TCP4 : V2_TCP6;
  header.writeUInt16BE(addressBytes, 14);
  if (ends === null) return header;
  const size = ends.family === 4 ? 4 : 16;
  const write = ends.family === 4 ? ipv4Bytes : ipv6Bytes;
  write(ends.source, header, 16);
  write(ends.destination, header, 16 + size);
  header.writeUInt16BE(source.port, 16 + 2 * size);
  header.writeUInt16BE(destination.port, 18 + 2 * size);
  return header;
}

/** The header that tells a peer `source` (the client) connected to `destination` (websocksy). */
export function proxyHeader(version: ProxyVersion, source: ProxyEndpoint, destination: ProxyEndpoint): Buffer {
  return version === 'v1' ? headerV1(source, destination) : headerV2(source, destination);
}

/**
 * Writes the header for `clientAddress` on a socket that has just connected, before anything
 * else: the destination is websocksy's end of it (a unix socket has no address: the unspecified
 * one of the client's family). Ports websocksy does not know are 0.
 */
export function writeProxyHeader(socket: Socket, version: ProxyVersion, clientAddress: string): void {
  const local = socket.localAddress;
  const destination = local !== undefined && local !== '' ? { address: local, port: socket.localPort ?? 0 } : { address: isIP(clientAddress) === 6 ? '::' : '0.0.0.0', port: 0 };
  socket.write(proxyHeader(version, { address: clientAddress, port: 0 }, destination));
}
