/*
 * Just enough of the peer-address syntax for a backend to know whether an address carries its
 * own port; the core does the real parsing when it connects.
 */

const SCHEME = /^([a-z][a-z0-9+.-]*):\/\//i;

/** True for `unix://…` and `unix-dgram://…`, which name a socket path and take no port. */
export function isUnixAddress(address: string): boolean {
  const scheme = SCHEME.exec(address)?.[1]?.toLowerCase();
  return scheme === 'unix' || scheme === 'unix-dgram';
}

/**
 * The port text in a tcp/udp (or scheme-less) address: what follows the last `:` outside
 * brackets, so `tcp://[::1]:80` gives `80` and `tcp://[::1]` none. Undefined when the address
 * has no port or is a unix socket (whose path may contain anything, colons included).
 * Throws for an unbracketed IPv6 literal, whose last group would otherwise pass for a port.
 */
export function portInAddress(address: string): string | undefined {
  if (isUnixAddress(address)) return undefined;
  const match = SCHEME.exec(address);
  const rest = match === null ? address : address.slice(match[0].length);
  const outside = rest.slice(rest.lastIndexOf(']') + 1);
  const colon = outside.lastIndexOf(':');
  if (colon < 0) return undefined;
  if (outside.indexOf(':') !== colon) {
    throw new Error(`IPv6 addresses need brackets, e.g. tcp://[::1]:5900 (found "${address}")`);
  }
  return outside.slice(colon + 1);
}

/** Checks a port given as text: decimal, 1 to 65535. Returns its number. */
export function checkPort(text: string): number {
  const port = /^[0-9]{1,5}$/.test(text) ? Number(text) : NaN;
  if (!(port >= 1 && port <= 65535)) throw new Error(`"${text}" is not a port (expected a decimal number from 1 to 65535)`);
  return port;
}
