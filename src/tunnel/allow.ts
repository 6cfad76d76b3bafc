/*
 * Per-identity allow-lists: which destinations a tunnel may dial (host name, address or CIDR,
 * and a port or port range) and which ports it may have listened on. Nothing is allowed unless
 * a rule names it. A host name requested against address rules is resolved once here and the
 * resolved address is what gets dialled, so a name cannot resolve differently after the check.
 */
import { lookup } from 'node:dns/promises';
import { BlockList, isIP } from 'node:net';

export type PortRange = readonly [number, number];

type HostRule = { readonly kind: 'any' } | { readonly kind: 'name'; readonly name: string } | { readonly kind: 'net'; readonly text: string; readonly list: BlockList };

export interface ConnectRule {
  readonly host: HostRule;
  readonly ports: PortRange;
}

export interface ListenRule {
  /** null: any bind address. */
  readonly bind: string | null;
  readonly ports: PortRange;
}

export class PolicyError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'PolicyError';
  }
}

function parsePort(text: string, what: string): number {
  const port = /^\d{1,5}$/.test(text) ? Number(text) : NaN;
  if (!(port >= 1 && port <= 65535)) throw new Error(`"${text}" is not a ${what} (1-65535)`);
  return port;
}

function parsePorts(text: string): PortRange {
  const dash = text.indexOf('-');
  if (dash < 0) {
    const port = parsePort(text, 'port');
    return [port, port];
  }
  const low = parsePort(text.slice(0, dash), 'port');
  const high = parsePort(text.slice(dash + 1), 'port');
  if (low > high) throw new Error(`port range ${text} runs backwards`);
  return [low, high];
}

/** Splits `host:ports` where host may be `[v6]`, `[v6/len]`, `v4`, `v4/len`, a name or `*`. */
function splitHostPorts(text: string): [string, string] {
  const bracket = /^\[([^\]]+)\]:(.+)$/.exec(text);
  if (bracket !== null) return [bracket[1] as string, bracket[2] as string];
  const colon = text.lastIndexOf(':');
  if (colon <= 0) throw new Error(`"${text}" is not host:port`);
  return [text.slice(0, colon), text.slice(colon + 1)];
}

function parseHost(text: string): HostRule {
  if (text === '*') return { kind: 'any' };
  const slash = text.indexOf('/');
  const address = slash < 0 ? text : text.slice(0, slash);
  const family = isIP(address);
  if (family === 0) {
    if (slash >= 0 || !/^[a-z0-9.-]+$/i.test(text)) throw new Error(`"${text}" is not a host name, address or CIDR`);
    return { kind: 'name', name: text.toLowerCase() };
  }
  const type = family === 4 ? 'ipv4' : 'ipv6';
  const list = new BlockList();
  if (slash < 0) list.addAddress(address, type);
  else {
    const prefix = /^\d{1,3}$/.test(text.slice(slash + 1)) ? Number(text.slice(slash + 1)) : NaN;
    if (!(prefix >= 0 && prefix <= (family === 4 ? 32 : 128))) throw new Error(`"${text}" has a bad prefix length`);
    list.addSubnet(address, prefix, type);
  }
  return { kind: 'net', text, list };
}

export function parseConnectRule(text: string): ConnectRule {
  const [host, ports] = splitHostPorts(text);
  return { host: parseHost(host), ports: parsePorts(ports) };
}

export function parseListenRule(text: string): ListenRule {
  const colon = text.lastIndexOf(':');
  if (colon < 0) return { bind: null, ports: parsePorts(text) };
  const bind = text.slice(0, colon).replace(/^\[(.*)\]$/, '$1');
  if (bind !== '*' && isIP(bind) === 0 && bind !== 'localhost') throw new Error(`"${bind}" is not a bind address`);
  return { bind: bind === '*' ? null : bind, ports: parsePorts(text.slice(colon + 1)) };
}

const inRange = (port: number, [low, high]: PortRange): boolean => port >= low && port <= high;

function matchesAddress(rule: HostRule, address: string): boolean {
  if (rule.kind === 'any') return true;
  if (rule.kind === 'name') return rule.name === address.toLowerCase();
  return rule.list.check(address, isIP(address) === 4 ? 'ipv4' : 'ipv6');
}

export class AllowList {
  constructor(
    private readonly connectRules: readonly ConnectRule[],
    private readonly listenRules: readonly ListenRule[],
  ) {}

  /** Resolves with the address to dial, or rejects with a PolicyError saying why not. */
  async checkConnect(host: string, port: number): Promise<string> {
    const rules = this.connectRules.filter((rule) => inRange(port, rule.ports));
    if (rules.length === 0) throw new PolicyError(`port ${port} is not in this identity's connect allow-list`);
    if (rules.some((rule) => matchesAddress(rule.host, host))) return host;
    if (isIP(host) !== 0 || !rules.some((rule) => rule.host.kind === 'net')) {
      throw new PolicyError(`${host}:${port} is not in this identity's connect allow-list`);
    }
    let address: string;
    try {
      address = (await lookup(host)).address;
    } catch (error) {
      throw new PolicyError(`cannot resolve ${host}: ${(error as NodeJS.ErrnoException).code ?? String(error)}`);
    }
    if (rules.some((rule) => matchesAddress(rule.host, address))) return address;
    throw new PolicyError(`${host} (${address}):${port} is not in this identity's connect allow-list`);
  }

  checkListen(bind: string, port: number): void {
    if (this.listenRules.some((rule) => inRange(port, rule.ports) && (rule.bind === null || rule.bind === bind))) return;
    throw new PolicyError(`listening on ${bind}:${port} is not in this identity's listen allow-list`);
  }
}
