/*
 * Host text as the destination allow-lists see it: an address in one canonical spelling, a host
 * name, or something refused as malformed. getaddrinfo reads `2130706433`, `0x7f000001`,
 * `0177.0.0.1` and `127.1` as 127.0.0.1; a list that compared such text to its rules would let
 * them through, so any host whose last label is a number and that is not a plain dotted quad is
 * malformed here (the WHATWG URL standard's "ends in a number" test). IPv4-mapped IPv6
 * (`::ffff:10.1.2.3`, `::ffff:a01:203`) is the IPv4 address it carries: the kernel dials it so.
 */
import { isIP } from 'node:net';

export type HostText =
  | { readonly kind: 'address'; readonly address: string; readonly family: 4 | 6 }
  | { readonly kind: 'name'; readonly name: string }
  | { readonly kind: 'malformed'; readonly why: string };

const MAPPED = /^::ffff:([0-9a-f]{1,4}):([0-9a-f]{1,4})$/;
const LABEL = /^[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?$/;
const NUMERIC_LABEL = /^(?:\d+|0x[0-9a-f]*)$/;

/** An IPv6 address in its canonical (RFC 5952) spelling, as the URL parser writes it. */
function canonicalIpv6(address: string): string {
  return new URL(`http://[${address}]/`).hostname.slice(1, -1);
}

/** The address (`[v6]` brackets allowed) canonically, IPv4-mapped IPv6 as IPv4; null when not an address. */
export function canonicalAddress(text: string): { readonly address: string; readonly family: 4 | 6 } | null {
  const bare = text.startsWith('[') && text.endsWith(']') ? text.slice(1, -1) : text;
  const family = bare.includes('%') ? 0 : isIP(bare);
  if (family === 4) return { address: bare, family: 4 };
  if (family !== 6) return null;
  const canonical = canonicalIpv6(bare);
  const mapped = MAPPED.exec(canonical);
  if (mapped === null) return { address: canonical, family: 6 };
  const high = parseInt(mapped[1] as string, 16);
  const low = parseInt(mapped[2] as string, 16);
  return { address: `${high >> 8}.${high & 255}.${low >> 8}.${low & 255}`, family: 4 };
}

/** Classifies a host as a destination names it (a peer address, a URL's host, a tunnel target). */
export function readHost(text: string): HostText {
  const address = canonicalAddress(text);
  if (address !== null) return { kind: 'address', ...address };
  if (text.includes('%') && isIP(text.replace(/^\[|\]$/g, '').replace(/%.*$/, '')) === 6) {
    return { kind: 'malformed', why: `"${text}" is a scoped address (with a zone), which allow-lists do not take` };
  }
  const name = (text.endsWith('.') ? text.slice(0, -1) : text).toLowerCase();
  const labels = name.split('.');
  if (name.length === 0 || name.length > 253 || !labels.every((label) => LABEL.test(label))) {
    return { kind: 'malformed', why: `"${text}" is neither an address nor a host name` };
  }
  if (NUMERIC_LABEL.test(labels[labels.length - 1] as string)) {
    return { kind: 'malformed', why: `"${text}" is a number but not an address written as four decimal numbers (a.b.c.d) or IPv6` };
  }
  return { kind: 'name', name };
}
