/*
 * A destination allow-list: which peers a client's input may make websocksy dial. Nothing is
 * allowed unless a rule names it (destination-rules.ts). A host name is resolved once, here,
 * and what the caller dials is the checked address, never the name again: a name cannot
 * resolve to one address for the check and another for the connect (DNS rebinding). A name
 * matched by a name rule (`db.internal`, `*.internal`) may resolve to anything; one matched
 * only by address rules must resolve to an address they cover, and the first that is covered
 * is dialled.
 */
import { lookup } from 'node:dns/promises';
import type { LookupFunction } from 'node:net';
import type { DestinationRule, HostPattern } from './destination-rules.js';
import { errorCode } from './errors.js';
import { readHost } from './host-address.js';
import { normaliseSocketPath } from './path-glob.js';

export type Destination =
  | { readonly transport: 'tcp' | 'udp'; readonly host: string; readonly port: number }
  | { readonly transport: 'unix' | 'unix-dgram'; readonly path: string };

/** The destination is not on the list; `message` says which and why (for the log, not the client). */
export class DestinationDenied extends Error {
  override name = 'DestinationDenied';
}

/** The destination's name did not resolve: nothing to check, nothing to dial. */
export class DestinationUnresolved extends Error {
  override name = 'DestinationUnresolved';
}

/** Every address a name resolves to, in the resolver's order. */
export type Resolver = (name: string) => Promise<readonly string[]>;

export const systemResolver: Resolver = async (name) => (await lookup(name, { all: true, verbatim: true })).map((entry) => entry.address);

export function describeDestination(destination: Destination): string {
  if ('path' in destination) return `${destination.transport}:${destination.path}`;
  const host = destination.host.includes(':') ? `[${destination.host}]` : destination.host;
  return `${destination.transport}:${host}:${destination.port}`;
}

function coversAddress(pattern: HostPattern, address: string, family: 4 | 6): boolean {
  if (pattern.kind === 'any') return true;
  if (pattern.kind !== 'network' || pattern.family !== family) return false;
  return pattern.list.check(address, family === 4 ? 'ipv4' : 'ipv6');
}

function coversName(pattern: HostPattern, name: string): boolean {
  if (pattern.kind === 'any') return true;
  if (pattern.kind === 'name') return pattern.name === name;
  return pattern.kind === 'suffix' && name.endsWith(pattern.suffix);
}

type HostRule = Extract<DestinationRule, { readonly host: HostPattern }>;

interface NameToResolve {
  readonly name: string;
  /** A name rule covers the name: any address it resolves to will do. */
  readonly byName: boolean;
  readonly rules: readonly HostRule[];
  readonly destination: Extract<Destination, { readonly host: string }>;
}

export class DestinationAllowList {
  /**
   * `label` names the list in messages ("allow-peers", "this identity's connect allow-list").
   * `resolve` is the system's resolver but in tests.
   */
  constructor(
    readonly rules: readonly DestinationRule[],
    readonly label: string,
    private readonly resolve: Resolver = systemResolver,
  ) {}

  /** What to dial: `destination` with its host replaced by the checked address, or its path normalised. */
  async check(destination: Destination): Promise<Destination> {
    const decided = this.decide(destination);
    if (!('name' in decided)) return decided;
    const { transport, port } = decided.destination;
    const addresses = await this.addressesOf(decided.name);
    const allowed = addresses.find((address) => decided.byName || decided.rules.some((rule) => coversAddress(rule.host, address.address, address.family)));
    if (allowed !== undefined) return { transport, host: allowed.address, port };
    const listed = addresses.map((address) => address.address).join(', ');
    throw new DestinationDenied(`${describeDestination(destination)} resolves to ${listed}, which ${this.label} does not cover`);
  }

  /**
   * True or false for a destination that needs no resolving (an address, a path), undefined for
   * a name: lets a configuration refuse at start-up a fixed destination its own list denies.
   */
  coversLiteral(destination: Destination): boolean | undefined {
    try {
      return 'name' in this.decide(destination) ? undefined : true;
    } catch (error) {
      if (error instanceof DestinationDenied) return false;
      throw error;
    }
  }

  /** The checked destination when no resolving is needed; else the name to resolve and the rules that may cover it. */
  private decide(destination: Destination): Destination | NameToResolve {
    if ('path' in destination) return this.checkPath(destination);
    const { transport, port } = destination;
    const text = describeDestination(destination);
    const rules = this.rules.filter((rule): rule is HostRule => rule.transport === transport && port >= rule.ports[0] && port <= rule.ports[1]);
    if (rules.length === 0) throw new DestinationDenied(`${transport} port ${port} is not in ${this.label}`);
    const host = readHost(destination.host);
    if (host.kind === 'malformed') throw new DestinationDenied(`${text}: ${host.why}`);
    if (host.kind === 'address') {
      if (rules.some((rule) => coversAddress(rule.host, host.address, host.family))) return { transport, host: host.address, port };
      throw new DestinationDenied(`${text} is not in ${this.label}`);
    }
    const byName = rules.some((rule) => coversName(rule.host, host.name));
    if (!byName && !rules.some((rule) => rule.host.kind === 'network')) throw new DestinationDenied(`${text} is not in ${this.label}`);
    return { name: host.name, byName, rules, destination };
  }

  /**
   * A `lookup` for node:net and node:http that resolves through this list, for upstreams reached
   * by name on `port`; an upstream given as an address is never looked up (check it with coversLiteral).
   */
  lookupFor(port: number): LookupFunction {
    return (hostname, options, callback) => {
      this.check({ transport: 'tcp', host: hostname, port }).then(
        (checked) => {
          const address = 'host' in checked ? checked.host : hostname;
          const family = address.includes(':') ? 6 : 4;
          // node asks for every address (all: true) when it may race families; the typing knows only the single form.
          if (options.all === true) (callback as (error: null, addresses: Array<{ address: string; family: number }>) => void)(null, [{ address, family }]);
          else callback(null, address, family);
        },
        (error: Error) => callback(error as NodeJS.ErrnoException, '', 0),
      );
    };
  }

  private checkPath(destination: Extract<Destination, { readonly path: string }>): Destination {
    const { transport } = destination;
    const normalised = normaliseSocketPath(destination.path);
    if ('problem' in normalised) throw new DestinationDenied(`${transport}:${destination.path}: ${normalised.problem}`);
    const covered = this.rules.some((rule) => rule.transport === transport && 'glob' in rule && rule.glob.matches(normalised.path));
    if (!covered) throw new DestinationDenied(`${transport}:${normalised.path} is not in ${this.label}`);
    return { transport, path: normalised.path };
  }

  private async addressesOf(name: string): Promise<Array<{ readonly address: string; readonly family: 4 | 6 }>> {
    let resolved: readonly string[];
    try {
      resolved = await this.resolve(name);
    } catch (error) {
      throw new DestinationUnresolved(`cannot resolve ${name}: ${errorCode(error)}`);
    }
    const addresses = resolved.flatMap((text) => {
      const host = readHost(text);
      return host.kind === 'address' ? [{ address: host.address, family: host.family }] : [];
    });
    if (addresses.length === 0) throw new DestinationUnresolved(`cannot resolve ${name}: no address`);
    return addresses;
  }
}
