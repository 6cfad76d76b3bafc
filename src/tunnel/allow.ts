/*
 * Per-identity allow-lists: which destinations a tunnel may dial (connect=, and an upstream's
 * accept=: the one destination grammar, lib/destination-rules.ts, tcp rules only) and which
 * ports it may have listened on. Nothing is allowed unless a rule names it. A host name is
 * resolved once (lib/destination-allow.ts) and the checked address is what gets dialled, so a
 * name cannot resolve differently after the check.
 */
import { isIP } from 'node:net';
import { DestinationAllowList } from '../lib/destination-allow.js';
import { parseDestinationRule, type DestinationRule, type HostPattern, type PortRange } from '../lib/destination-rules.js';
import { parsePortRange } from '../lib/grammar.js';

/** A connect= or accept= rule: a host rule (parseConnectRule lets only tcp ones in: `HOST:PORTS` or `tcp:HOST:PORTS`). */
export type ConnectRule = Extract<DestinationRule, { readonly host: HostPattern }>;

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

export function parseConnectRule(text: string): ConnectRule {
  const rule = parseDestinationRule(text);
  if (rule.transport !== 'tcp' || !('host' in rule)) throw new Error(`rule "${rule.text}": tunnel streams are tcp (write HOST:PORTS or tcp:HOST:PORTS)`);
  return rule;
}

export function parseListenRule(text: string): ListenRule {
  const colon = text.lastIndexOf(':');
  if (colon < 0) return { bind: null, ports: parsePortRange(text) };
  const bind = text.slice(0, colon).replace(/^\[(.*)\]$/, '$1');
  if (bind !== '*' && !isBindAddress(bind)) throw new Error(`"${bind}" is not a bind address`);
  return { bind: bind === '*' ? null : bind, ports: parsePortRange(text.slice(colon + 1)) };
}

/** What a listener may bind: an IP literal, or `localhost`; never a name a resolver would be asked for. */
export const isBindAddress = (text: string): boolean => isIP(text) !== 0 || text === 'localhost';

const inRange = (port: number, [low, high]: PortRange): boolean => port >= low && port <= high;

export class AllowList {
  private readonly connect: DestinationAllowList;

  constructor(
    connectRules: readonly ConnectRule[],
    private readonly listenRules: readonly ListenRule[],
  ) {
    this.connect = new DestinationAllowList(connectRules, "this identity's connect allow-list");
  }

  /** Resolves with the address to dial, or rejects with a DestinationDenied or DestinationUnresolved saying why not. */
  async checkConnect(host: string, port: number): Promise<string> {
    const checked = await this.connect.check({ transport: 'tcp', host, port });
    return 'host' in checked ? checked.host : host;
  }

  checkListen(bind: string, port: number): void {
    if (this.listenRules.some((rule) => inRange(port, rule.ports) && (rule.bind === null || rule.bind === bind))) return;
    throw new PolicyError(`listening on ${bind}:${port} is not in this identity's listen allow-list`);
  }
}
