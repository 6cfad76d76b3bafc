/*
 * The key under which a client address is counted for `max-connections-per-address`: an IPv4
 * address is one key, an IPv6 address counts by its /64. One IPv6 host usually holds a whole
 * /64 (SLAAC, privacy addresses) and can pick a fresh address per connection, so counting single
 * IPv6 addresses would limit nothing. IPv4-mapped IPv6 addresses count as their IPv4 address.
 */
import { isIP } from 'node:net';

/** The counting key of `address`: the address itself (IPv4, or text that is not an address), or `PREFIX::/64`. */
export function addressGroup(address: string): string {
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address)?.[1];
  if (mapped !== undefined) return mapped;
  if (isIP(address) !== 6) return address;
  return `${firstFourGroups(address)}::/64`;
}

/** The first four 16-bit groups of an IPv6 address, lower-case hex without leading zeros. */
function firstFourGroups(address: string): string {
  const zone = address.indexOf('%');
  const bare = zone < 0 ? address : address.slice(0, zone);
  const gap = bare.indexOf('::');
  let groups: string[];
  if (gap < 0) groups = bare.split(':');
  else {
    const head = bare.slice(0, gap) === '' ? [] : bare.slice(0, gap).split(':');
    const tail = bare.slice(gap + 2) === '' ? [] : bare.slice(gap + 2).split(':');
    // An embedded IPv4 tail takes two groups; only the first four groups matter here, so its text may stay as is.
    const tailGroups = tail.length > 0 && tail[tail.length - 1]?.includes('.') === true ? tail.length + 1 : tail.length;
    groups = [...head, ...new Array<string>(8 - head.length - tailGroups).fill('0'), ...tail];
  }
  return groups
    .slice(0, 4)
    .map((group) => parseInt(group, 16).toString(16))
    .join(':');
}
