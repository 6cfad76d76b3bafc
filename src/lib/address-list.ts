/*
 * Sets of IP addresses written as addresses and CIDRs (`127.0.0.1`, `10.0.0.0/8`, `::1`,
 * `[fd00::]/8`), on node:net's BlockList. IPv4-mapped IPv6 addresses (`::ffff:10.1.2.3`) are
 * matched as the IPv4 address they carry.
 */
import { BlockList, isIP } from 'node:net';

/** One address or CIDR as a BlockList; throws naming the entry when it is neither. */
export function parseNetwork(text: string): BlockList {
  const entry = text.trim().replace(/^\[([^\]]+)\]/, '$1');
  const slash = entry.indexOf('/');
  const address = slash < 0 ? entry : entry.slice(0, slash);
  const family = isIP(address);
  if (family === 0) throw new Error(`"${text}" is not an address or CIDR`);
  const type = family === 4 ? 'ipv4' : 'ipv6';
  const list = new BlockList();
  if (slash < 0) list.addAddress(address, type);
  else {
    const prefix = /^\d{1,3}$/.test(entry.slice(slash + 1)) ? Number(entry.slice(slash + 1)) : NaN;
    if (!(prefix >= 0 && prefix <= (family === 4 ? 32 : 128))) throw new Error(`"${text}" has a bad prefix length`);
    list.addSubnet(address, prefix, type);
  }
  return list;
}

/** True when `address` is one of `list`'s; an IPv4-mapped IPv6 address counts as its IPv4 one. */
export function inNetwork(list: BlockList, address: string): boolean {
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address)?.[1];
  const plain = mapped ?? address;
  const family = isIP(plain);
  if (family === 0) return false;
  return list.check(plain, family === 4 ? 'ipv4' : 'ipv6');
}

export class AddressList {
  constructor(private readonly networks: readonly BlockList[]) {}

  /** A comma-separated list; '' is the empty list. */
  static parse(text: string): AddressList {
    return new AddressList(text.split(',').map((entry) => entry.trim()).filter((entry) => entry !== '').map(parseNetwork));
  }

  get empty(): boolean {
    return this.networks.length === 0;
  }

  has(address: string): boolean {
    return this.networks.some((network) => inNetwork(network, address));
  }
}

const LOOPBACK = (() => {
  const list = new BlockList();
  list.addSubnet('127.0.0.0', 8, 'ipv4');
  list.addAddress('::1', 'ipv6');
  return list;
})();

/** An address on this host's loopback (127.0.0.0/8, ::1, or 127.x as IPv4-mapped IPv6); `localhost` too. */
export function isLoopbackAddress(address: string): boolean {
  return address === 'localhost' || inNetwork(LOOPBACK, address);
}
