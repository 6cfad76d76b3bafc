/*
 * Port forwards, ssh-style: `[bind:]port:host:port`.
 *   local  (-L, CONNECT): this side listens on bind:port, the far side dials host:port.
 *   remote (-R, LISTEN):  the far side listens on bind:port, this side dials host:port.
 * The bind address defaults to 127.0.0.1, as ssh without GatewayPorts: exposing a forwarded
 * port to the network is something to ask for.
 */
import { parsePort } from '../lib/grammar.js';
import { isBindAddress } from './allow.js';

export interface Forward {
  readonly kind: 'local' | 'remote';
  readonly bind: string;
  readonly port: number;
  readonly host: string;
  readonly hostPort: number;
}

const SPEC = /^(?:(\[[^\]]+\]|[^:[\]]+):)?(\d+):(\[[^\]]+\]|[^:[\]]+):(\d+)$/;

const unbracket = (text: string): string => text.replace(/^\[(.*)\]$/, '$1');

export function parseForward(kind: Forward['kind'], text: string): Forward {
  const match = SPEC.exec(text.trim());
  if (match === null) throw new Error(`"${text}" is not [bind:]port:host:port`);
  // Port 0 on a local listener means "any free port" (logged); the far side needs a real one.
  const port = parsePort(match[2] as string, { allowZero: kind === 'local', what: 'a listen port' });
  const hostPort = parsePort(match[4] as string, { what: 'a destination port' });
  const bind = unbracket(match[1] ?? '127.0.0.1');
  // The far side binds an address, not a name (its allow-list's rule, allow.ts).
  if (kind === 'remote' && !isBindAddress(bind)) throw new Error(`"${text}": the far side binds an IP address or localhost, not "${bind}"`);
  return { kind, bind, port, host: unbracket(match[3] as string), hostPort };
}

export function describeForward(forward: Forward): string {
  return `${forward.kind === 'local' ? '-L' : '-R'} ${forward.bind}:${forward.port}:${forward.host}:${forward.hostPort}`;
}
