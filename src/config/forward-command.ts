/*
 * `websocksy forward [-L spec]... [-R spec]... URL (--token T | --token-file F) [--name N]`:
 * an ssh-style shortcut for one [upstream] section. The identity name comes from --name or
 * the URL's user part (ws://name@host/.tunnel). main.ts runs it.
 */
import { parseArgs } from 'node:util';
import { errorMessage } from '../lib/errors.js';
import { parseSeconds } from '../lib/grammar.js';
import { parseLogFormat, type LogFormat } from '../lib/log.js';
import { parseForward } from '../tunnel/forward.js';
import { newUpstream, type UpstreamConfig } from '../tunnel/options.js';
import { readSecretFile } from '../lib/secret.js';
import { parseFingerprint, readCaFile } from '../lib/tls-upstream.js';
import { ConfigError } from './settings.js';
import { checkUpstreamTls, tunnelUrl } from './tunnels.js';

export const FORWARD_USAGE = `usage: websocksy forward [-L [bind:]port:host:port]... [-R [bind:]port:host:port]... URL
         (--token TOKEN | --token-file FILE) [--name NAME] [--reconnect-min S] [--reconnect-max S]
         [--ca FILE] [--fingerprint sha256:HEX] [--log-format text|json] [-v]

  -L   local forward: listen here on bind:port (default bind 127.0.0.1), the far side dials host:port
  -R   remote forward: the far side listens on bind:port, this side dials host:port
  URL  the far instance's tunnel endpoint, e.g. wss://me@server:8001/.tunnel
  --ca FILE           wss: trust only the CAs in FILE (default: the CAs Node trusts)
  --fingerprint HASH  wss: the server certificate's SHA-256 must be HASH (sha256:HEX)
  --log-format F      text (default) or json: one JSON object per line, as the server's log-format`;

export type ForwardCommand =
  | { readonly help: true }
  | { readonly help: false; readonly upstream: UpstreamConfig; readonly verbose: boolean; readonly logFormat: LogFormat };

/** Reads the subcommand's arguments; throws a ConfigError (with the usage) when they are wrong. */
export function parseForwardCommand(argv: readonly string[]): ForwardCommand {
  let parsed;
  try {
    parsed = parseArgs({
      args: [...argv],
      allowPositionals: true,
      options: {
        local: { type: 'string', short: 'L', multiple: true },
        remote: { type: 'string', short: 'R', multiple: true },
        token: { type: 'string' },
        'token-file': { type: 'string' },
        name: { type: 'string' },
        'reconnect-min': { type: 'string' },
        'reconnect-max': { type: 'string' },
        ca: { type: 'string' },
        fingerprint: { type: 'string' },
        verbose: { type: 'boolean', short: 'v' },
        'log-format': { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
    });
  } catch (error) {
    throw new ConfigError(`${errorMessage(error)}\n${FORWARD_USAGE}`);
  }
  const { values, positionals } = parsed;
  if (values.help === true) return { help: true };
  const upstream = newUpstream('forward');
  let logFormat: LogFormat = 'text';
  try {
    if (values['log-format'] !== undefined) logFormat = parseLogFormat(values['log-format']);
    if (positionals.length !== 1) throw new Error(`expected one URL, got ${positionals.length}`);
    const url = tunnelUrl(positionals[0] as string, true);
    upstream.name = values.name ?? decodeURIComponent(url.username);
    url.username = '';
    upstream.url = url.href;
    if (upstream.name === '') throw new Error('no identity: give --name or put it in the URL (ws://name@host/...)');
    if ((values.token === undefined) === (values['token-file'] === undefined)) throw new Error('give exactly one of --token and --token-file');
    upstream.token = values.token ?? readSecretFile(values['token-file'] as string);
    for (const spec of values.local ?? []) upstream.forwards.push(parseForward('local', spec));
    for (const spec of values.remote ?? []) upstream.forwards.push(parseForward('remote', spec));
    if (upstream.forwards.length === 0) throw new Error('no forwards: give -L or -R');
    if (values['reconnect-min'] !== undefined) upstream.reconnectMinMs = parseSeconds(values['reconnect-min'], 0.01, 3600) * 1000;
    if (values['reconnect-max'] !== undefined) upstream.reconnectMaxMs = parseSeconds(values['reconnect-max'], 0.01, 86400) * 1000;
    upstream.tls = {
      ca: values.ca === undefined ? null : readCaFile(values.ca),
      fingerprint: values.fingerprint === undefined ? null : parseFingerprint(values.fingerprint),
    };
    const tlsProblem = checkUpstreamTls(upstream.url, upstream.tls);
    if (tlsProblem !== null) throw new Error(tlsProblem);
  } catch (error) {
    throw new ConfigError(`forward: ${errorMessage(error)}\n${FORWARD_USAGE}`);
  }
  return { help: false, upstream, verbose: values.verbose === true, logFormat };
}
