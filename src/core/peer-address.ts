/*
 * Peer addresses as backends write them: `tcp://host[:port]`, `udp://host[:port]`,
 * `unix://path`, `unix-dgram://path`, or a bare `host[:port]` taken as tcp.
 * Unlike websocksy, IPv6 literals work (`tcp://[::1]:5900`) and the port in the host wins.
 */
import type { PeerTransport } from './api.js';
import { errorMessage } from '../lib/errors.js';
import { parsePort as parseGrammarPort } from '../lib/grammar.js';

export class PeerAddressError extends Error {
  override name = 'PeerAddressError';
}

export type PeerAddress =
  | { readonly transport: 'tcp' | 'udp'; readonly host: string; readonly port: number; readonly text: string }
  | { readonly transport: 'unix' | 'unix-dgram'; readonly path: string; readonly text: string };

export interface ParsedPeerAddress {
  readonly address: PeerAddress;
  /** True when the address had no scheme and tcp was assumed. */
  readonly guessedTransport: boolean;
  /** True when a tcp/udp address carried its own port (then the separate port was not used). */
  readonly hostHasPort: boolean;
}

const SCHEMES: ReadonlyMap<string, PeerTransport> = new Map([
  ['tcp', 'tcp'],
  ['udp', 'udp'],
  ['unix', 'unix'],
  ['unix-dgram', 'unix-dgram'],
]);

/** A port from 1 to 65535 (the one port grammar, lib/grammar.ts); `address` names the context in the error. */
export function parsePort(text: string, address?: string): number {
  try {
    return parseGrammarPort(text);
  } catch (error) {
    throw new PeerAddressError(address === undefined ? errorMessage(error) : `${errorMessage(error)} in peer address "${address}"`);
  }
}

/** Splits `host[:port]` and `[v6]:port`; the port is undefined when absent. */
function splitHostPort(rest: string, address: string): { host: string; port: string | undefined } {
  if (rest.startsWith('[')) {
    const close = rest.indexOf(']');
    if (close < 0) throw new PeerAddressError(`unclosed "[" in peer address "${address}"`);
    const after = rest.slice(close + 1);
    if (after !== '' && !after.startsWith(':')) throw new PeerAddressError(`unexpected "${after}" in peer address "${address}"`);
    return { host: rest.slice(1, close), port: after === '' ? undefined : after.slice(1) };
  }
  const colon = rest.indexOf(':');
  if (colon < 0) return { host: rest, port: undefined };
  if (rest.indexOf(':', colon + 1) >= 0) {
    throw new PeerAddressError(`IPv6 addresses need brackets, e.g. tcp://[::1]:5900 (found "${address}")`);
  }
  return { host: rest.slice(0, colon), port: rest.slice(colon + 1) };
}

/** Parses a backend's answer; `port` is the backend's separate port, used when the host has none. */
export function parsePeerAddress(address: string, port?: string): ParsedPeerAddress {
  const match = /^([a-z][a-z0-9+.-]*):\/\/(.*)$/i.exec(address);
  const scheme = match?.[1]?.toLowerCase();
  const rest = match === null ? address : (match[2] ?? '');
  const transport = scheme === undefined ? 'tcp' : SCHEMES.get(scheme);
  if (transport === undefined) {
    throw new PeerAddressError(`unsupported scheme "${scheme ?? ''}://" in peer address "${address}" (use tcp, udp, unix or unix-dgram)`);
  }
  if (transport === 'unix' || transport === 'unix-dgram') {
    if (rest === '') throw new PeerAddressError(`no socket path in peer address "${address}"`);
    return { address: { transport, path: rest, text: `${transport}://${rest}` }, guessedTransport: false, hostHasPort: false };
  }
  const split = splitHostPort(rest, address);
  if (split.host === '') throw new PeerAddressError(`no host in peer address "${address}"`);
  const portText = split.port ?? port;
  if (portText === undefined) throw new PeerAddressError(`no port for peer address "${address}"`);
  const number = parsePort(portText, address);
  const hostText = split.host.includes(':') ? `[${split.host}]` : split.host;
  return {
    address: { transport, host: split.host, port: number, text: `${transport}://${hostText}:${number}` },
    guessedTransport: scheme === undefined,
    hostHasPort: split.port !== undefined,
  };
}
