/*
 * Per-identity allow-lists: which destinations a tunnel may dial (host name, address or CIDR,
 * and a port or port range) and which ports it may have listened on. Nothing is allowed unless
 * a rule names it. A host name requested against address rules is resolved once here and the
 * resolved address is what gets dialled, so a name cannot resolve differently after the check.
 */
import { lookup } from 'node:dns/promises';
import { isIP, type BlockList } from 'node:net';
import { inNetwork, parseNetwork } from '../lib/address-list.js';
import { parsePortRange } from '../lib/grammar.js';

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
  if (isIP(slash < 0 ? text : text.slice(0, slash)) === 0) {
    if (slash >= 0 || !/^[a-z0-9.-]+$/i.test(text)) throw new Error(`"${text}" is not a host name, address or CIDR`);
    return { kind: 'name', name: text.toLowerCase() };
  }
  return { kind: 'net', text, list: parseNetwork(text) };
}

export function parseConnectRule(text: string): ConnectRule {
  const [host, ports] = splitHostPorts(text);
  return { host: parseHost(host), ports: parsePortRange(ports) };
}

export function parseListenRule(text: string): ListenRule {
  const colon = text.lastIndexOf(':');
  if (colon < 0) return { bind: null, ports: parsePortRange(text) };
  const bind = text.slice(0, colon).replace(/^\[(.*)\]$/, '$1');
  if (bind !== '*' && isIP(bind) === 0 && bind !== 'localhost') throw new Error(`"${bind}" is not a bind address`);
  return { bind: bind === '*' ? null : bind, ports: parsePortRange(text.slice(colon + 1)) };
}

const inRange = (port: number, [low, high]: PortRange): boolean => port >= low && port <= high;

function matchesAddress(rule: HostRule, address: string): boolean {
  if (rule.kind === 'any') return true;
  if (rule.kind === 'name') return rule.name === address.toLowerCase();
  return inNetwork(rule.list, address);
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
