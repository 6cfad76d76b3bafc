/*
 * The one grammar of destination allow-lists ([core] allow-peers, a route's allow, a tunnel
 * identity's connect= and an upstream's accept=), comma-separated rules:
 *   tcp:HOST:PORTS   udp:HOST:PORTS   unix:/path/glob   unix-dgram:/path/glob
 *   HOST:PORTS       short for tcp:HOST:PORTS (the tunnel identities' original form)
 * HOST: a name (`db.internal`), `*.suffix` (names under it), an address, a CIDR (`10.0.0.0/8`,
 * IPv6 in brackets: `[fd00::]/8` or `[fd00::/8]`), or `*`. PORTS: `N`, `N-M` or `*`.
 * Addresses are kept canonical, IPv4-mapped IPv6 as IPv4 (host-address.ts); path globs in
 * path-glob.ts.
 */
import { BlockList } from 'node:net';
import { parsePortRange } from './grammar.js';
import { canonicalAddress, readHost } from './host-address.js';
import { PathGlob } from './path-glob.js';

export type PortRange = readonly [number, number];

export type HostPattern =
  | { readonly kind: 'any' }
  | { readonly kind: 'name'; readonly name: string }
  /** Names ending in `suffix` (which starts with a dot), not the suffix itself. */
  | { readonly kind: 'suffix'; readonly suffix: string }
  | { readonly kind: 'network'; readonly family: 4 | 6; readonly list: BlockList };

export type DestinationRule =
  | { readonly transport: 'tcp' | 'udp'; readonly host: HostPattern; readonly ports: PortRange; readonly text: string }
  | { readonly transport: 'unix' | 'unix-dgram'; readonly glob: PathGlob; readonly text: string };

const ALL_PORTS: PortRange = [1, 65535];

function parsePorts(text: string): PortRange {
  return text === '*' ? ALL_PORTS : parsePortRange(text);
}

/** An address or CIDR; an IPv4-mapped one becomes IPv4 (its prefix less 96). */
function parseNetwork(text: string): HostPattern {
  const slash = text.indexOf('/');
  const addressText = slash < 0 ? text : text.slice(0, slash);
  const address = canonicalAddress(addressText);
  if (address === null) throw new Error(`"${text}" is not an address or CIDR`);
  const written = addressText.replace(/^\[|\]$/g, '');
  const wasIpv6 = written.includes(':');
  const maxPrefix = wasIpv6 ? 128 : 32;
  let prefix = maxPrefix;
  if (slash >= 0) {
    const prefixText = text.slice(slash + 1);
    prefix = /^\d{1,3}$/.test(prefixText) ? Number(prefixText) : NaN;
    if (!(prefix <= maxPrefix)) throw new Error(`"${text}" has a bad prefix length`);
  }
  if (wasIpv6 && address.family === 4) {
    if (prefix < 96) throw new Error(`"${text}" reaches beyond the IPv4-mapped range ::ffff:0:0/96: write IPv4 rules as IPv4`);
    prefix -= 96;
  }
  const list = new BlockList();
  list.addSubnet(address.address, prefix, address.family === 4 ? 'ipv4' : 'ipv6');
  return { kind: 'network', family: address.family, list };
}

function parseHostPattern(text: string): HostPattern {
  if (text === '*') return { kind: 'any' };
  if (text.startsWith('*.')) {
    const host = readHost(text.slice(2));
    if (host.kind !== 'name') throw new Error(`"${text}" is not *.DOMAIN`);
    return { kind: 'suffix', suffix: `.${host.name}` };
  }
  if (text.startsWith('[') || text.includes('/') || canonicalAddress(text) !== null) {
    // `[fd00::/8]` reads as `[fd00::]/8`.
    return parseNetwork(text.replace(/^\[([^\]/]+)\/(\d+)\]$/, '[$1]/$2'));
  }
  const host = readHost(text);
  if (host.kind === 'malformed') throw new Error(host.why);
  if (host.kind === 'address') return parseNetwork(text);
  return { kind: 'name', name: host.name };
}

/** Splits `HOST:PORTS`, where HOST may be `[v6]`, `[v6]/len` or `[v6/len]`. */
function splitHostPorts(text: string): [string, string] {
  const colon = text.lastIndexOf(':');
  if (colon <= 0) throw new Error(`"${text}" is not host:ports`);
  const host = text.slice(0, colon);
  if (host.includes(':') && !host.startsWith('[')) throw new Error(`"${text}": an IPv6 host goes in brackets, as in [::1]:80`);
  return [host, text.slice(colon + 1)];
}

const TRANSPORT = /^(tcp|udp|unix|unix-dgram):(.*)$/s;

/** One rule; the error says what is wrong with it (a list adds which rule). */
export function parseDestinationRule(text: string): DestinationRule {
  const rule = text.trim();
  const match = TRANSPORT.exec(rule);
  const unknown = match === null ? /^([a-z][a-z-]*):[^:[\]]*:/i.exec(rule) : null;
  if (unknown !== null) throw new Error(`unknown transport "${unknown[1] as string}" (tcp, udp, unix, unix-dgram)`);
  const transport = (match?.[1] ?? 'tcp') as DestinationRule['transport'];
  const rest = match === null ? rule : (match[2] as string);
  if (transport === 'unix' || transport === 'unix-dgram') return { transport, glob: PathGlob.parse(rest), text: rule };
  const [host, ports] = splitHostPorts(rest);
  return { transport, host: parseHostPattern(host), ports: parsePorts(ports), text: rule };
}

/** A comma-separated list; an empty list is an error (it would refuse everything). */
export function parseDestinationRules(text: string): DestinationRule[] {
  const rules = text.split(',').map((entry) => entry.trim()).filter((entry) => entry !== '');
  if (rules.length === 0) throw new Error('no rules (expected e.g. tcp:10.0.0.0/8:5900-5999, unix:/run/vnc/*.sock)');
  return rules.map((rule) => {
    try {
      return parseDestinationRule(rule);
    } catch (error) {
      throw new Error(`rule "${rule}": ${(error as Error).message}`);
    }
  });
}
