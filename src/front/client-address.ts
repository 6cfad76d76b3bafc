/*
 * Who the client really is, when proxies stand in front (docs/client-address.md).
 *
 * The TCP peer is a fact; everything a connection says about another address is a claim,
 * believed only from a peer in `trusted-proxies`:
 *   1. a PROXY protocol v2 header (uWS reads it natively; any client may send one, so it counts
 *      only from a trusted peer, and only with `proxy-protocol = v2`, which also makes it
 *      required from trusted peers: one that comes without it is refused);
 *   2. then, when the hop that sent the HTTP request is trusted, X-Forwarded-For or Forwarded
 *      (`client-address-header`), walked from the right: each trusted proxy appended the
 *      address it saw, so the client is the rightmost address that is not a trusted proxy.
 *      A hop that is not an address ends the walk at the last trusted one (debug log).
 */
import type { HttpResponse } from 'uWebSockets.js';
import { Refusal } from '../core/refusal.js';
import type { HeaderList } from '../core/request.js';
import type { AddressList } from '../lib/address-list.js';
import { errorMessage } from '../lib/errors.js';
import { forwardedFor, forwardedForHops, forwardedHops, nodeAddress, plainAddress } from '../lib/forwarded-for.js';
import { log } from '../lib/log.js';

export type ForwardedHeader = 'x-forwarded-for' | 'forwarded' | 'none';

export interface ClientAddressPolicy {
  readonly trustedProxies: AddressList;
  /** `v2`: trusted proxies send a PROXY v2 header before the request, and must. */
  readonly proxyProtocol: 'off' | 'v2';
  /** Which header trusted proxies append the address they saw to. */
  readonly header: ForwardedHeader;
}

export interface ClientAddresses {
  /** The real client, as far as trusted proxies tell. */
  readonly clientAddress: string;
  /** The TCP peer of this connection. */
  readonly remoteAddress: string;
  /** Who sent the HTTP request: the PROXY header's address when believed, else the TCP peer. */
  readonly hopAddress: string;
}

/** uWS's text for an address (IPv6 in full, IPv4 clients of a dual-stack socket as IPv4-mapped IPv6), in one spelling. */
function addressText(raw: ArrayBuffer): string {
  return plainAddress(Buffer.from(raw).toString('latin1'));
}

/** The TCP peer's address. */
export function remoteAddressOf(res: Pick<HttpResponse, 'getRemoteAddressAsText'>): string {
  return addressText(res.getRemoteAddressAsText());
}

/** The address a PROXY v2 header carried, '' without one. */
function proxiedAddressOf(res: Pick<HttpResponse, 'getProxiedRemoteAddressAsText'>): string {
  return addressText(res.getProxiedRemoteAddressAsText());
}

function headerValues(headers: HeaderList, name: string): string[] {
  const values: string[] = [];
  for (const header of headers) if (header.name === name) values.push(header.value);
  return values;
}

/** The client behind a trusted `hop`, from the header `policy` names; `hop` itself when there is none. */
function forwardedClient(hop: string, headers: HeaderList, policy: ClientAddressPolicy, id: number): string {
  if (policy.header === 'none') return hop;
  const values = headerValues(headers, policy.header);
  if (values.length === 0) return hop;
  const forwarded = policy.header === 'forwarded';
  const hops = forwarded ? forwardedHops(values) : forwardedForHops(values);
  let client = hop;
  for (let i = hops.length - 1; i >= 0; i--) {
    const entry = hops[i] as string;
    let node = entry;
    if (forwarded) {
      try {
        node = forwardedFor(entry);
      } catch (error) {
        log.debug('forwarded header ignored', { id, via: hop, header: policy.header, why: `"${entry.trim()}": ${errorMessage(error)}`, client });
        return client;
      }
    }
    const address = nodeAddress(node);
    if (address === null) {
      log.debug('forwarded header ignored', { id, via: hop, header: policy.header, why: `"${node.trim()}" is not an address`, client });
      return client;
    }
    client = address;
    if (!policy.trustedProxies.has(address)) return client;
  }
  return client;
}

/** The addresses of the request `res` answers, or a refusal when a trusted proxy broke the rules. */
export function resolveClientAddress(res: Pick<HttpResponse, 'getRemoteAddressAsText' | 'getProxiedRemoteAddressAsText'>, headers: HeaderList, policy: ClientAddressPolicy, id: number): ClientAddresses | Refusal {
  const remoteAddress = remoteAddressOf(res);
  // Each list check costs about a microsecond per CIDR (node:net BlockList): make as few as possible.
  if (policy.trustedProxies.empty) return { clientAddress: remoteAddress, remoteAddress, hopAddress: remoteAddress };
  const proxied = proxiedAddressOf(res);
  const trustedPeer = policy.trustedProxies.has(remoteAddress);
  if (!trustedPeer) {
    if (proxied !== '') log.debug('proxy header ignored', { id, client: remoteAddress, claimed: proxied, why: 'not from a trusted proxy' });
    return { clientAddress: remoteAddress, remoteAddress, hopAddress: remoteAddress };
  }
  let hopAddress = remoteAddress;
  if (policy.proxyProtocol === 'v2') {
    if (proxied === '') return new Refusal('bad-request', 400, 'Bad request', `trusted proxy ${remoteAddress} sent no PROXY v2 header (proxy-protocol = v2)`);
    hopAddress = proxied;
  } else if (proxied !== '') {
    log.debug('proxy header ignored', { id, client: remoteAddress, claimed: proxied, why: 'proxy-protocol is off' });
  }
  const trustedHop = hopAddress === remoteAddress || policy.trustedProxies.has(hopAddress);
  const clientAddress = trustedHop ? forwardedClient(hopAddress, headers, policy, id) : hopAddress;
  return { clientAddress, remoteAddress, hopAddress };
}
