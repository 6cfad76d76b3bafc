/*
 * `websocksy forward [-L spec]... [-R spec]... URL (--token T | --token-file F) [--name N]`:
 * an ssh-style shortcut for one [upstream] section. The identity name comes from --name or
 * the URL's user part (ws://name@host/.tunnel). Runs until SIGINT/SIGTERM; exits 1 when the
 * server refuses the identity.
 */
import { parseArgs } from 'node:util';
import { errorMessage } from '../core/errors.js';
import { log, setVerbose } from '../core/log.js';
import { TunnelClient } from './client.js';
import { checkUrl, newUpstream, seconds } from './config.js';
import { parseForward } from './forward.js';
import { readSecretFile } from './secret.js';

export const FORWARD_USAGE = `usage: websocksy forward [-L [bind:]port:host:port]... [-R [bind:]port:host:port]... URL
         (--token TOKEN | --token-file FILE) [--name NAME] [--reconnect-min S] [--reconnect-max S] [-v]

  -L   local forward: listen here on bind:port (default bind 127.0.0.1), the far side dials host:port
  -R   remote forward: the far side listens on bind:port, this side dials host:port
  URL  the far instance's tunnel endpoint, e.g. ws://me@server:8001/.tunnel`;

export async function runForward(argv: readonly string[], fail: (message: string, code: number) => never): Promise<void> {
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
        verbose: { type: 'boolean', short: 'v' },
        help: { type: 'boolean', short: 'h' },
      },
    });
  } catch (error) {
    fail(`${errorMessage(error)}\n${FORWARD_USAGE}`, 2);
  }
  const { values, positionals } = parsed;
  if (values.help === true) {
    process.stdout.write(FORWARD_USAGE + '\n');
    return;
  }
  const upstream = newUpstream('forward');
  try {
    if (positionals.length !== 1) throw new Error(`expected one URL, got ${positionals.length}`);
    const url = new URL(checkUrl(positionals[0] as string));
    upstream.name = values.name ?? decodeURIComponent(url.username);
    url.username = '';
    upstream.url = url.href;
    if (upstream.name === '') throw new Error('no identity: give --name or put it in the URL (ws://name@host/...)');
    if ((values.token === undefined) === (values['token-file'] === undefined)) throw new Error('give exactly one of --token and --token-file');
    upstream.token = values.token ?? readSecretFile(values['token-file'] as string);
    for (const spec of values.local ?? []) upstream.forwards.push(parseForward('local', spec));
    for (const spec of values.remote ?? []) upstream.forwards.push(parseForward('remote', spec));
    if (upstream.forwards.length === 0) throw new Error('no forwards: give -L or -R');
    if (values['reconnect-min'] !== undefined) upstream.reconnectMinMs = seconds(values['reconnect-min'], 0.01, 3600) * 1000;
    if (values['reconnect-max'] !== undefined) upstream.reconnectMaxMs = seconds(values['reconnect-max'], 0.01, 86400) * 1000;
  } catch (error) {
    fail(`forward: ${errorMessage(error)}\n${FORWARD_USAGE}`, 2);
  }
  setVerbose(values.verbose === true);
  const client = new TunnelClient(upstream, { stopOnRefusal: true, onRefused: () => process.exit(1) });
  try {
    await client.start();
  } catch (error) {
    fail(errorMessage(error), 1);
  }
  log.info('forwarding', { url: upstream.url, identity: upstream.name, ports: client.localPorts.join(',') });
  const stop = (signal: string): void => {
    log.info('shutting down', { signal });
    client.close();
    setTimeout(() => process.exit(0), 200).unref();
  };
  process.on('SIGINT', () => stop('SIGINT'));
  process.on('SIGTERM', () => stop('SIGTERM'));
}
