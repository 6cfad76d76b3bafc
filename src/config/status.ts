/*
 * The [status] section: where the status JSON is served and who may read it. The status names
 * tunnel identities and client addresses, which the tunnel's own refusals take care to hide,
 * so it is never public by default: it needs a token (`token-file` or `token-env`, sent as
 * `Authorization: Bearer`), or a listener of its own on a loopback address, or — west's
 * protected mode, and only when asked for — `clients = loopback`. `metrics = /PATH` serves the
 * Prometheus exposition (src/metrics/) at that path, to the same readers.
 */
import { isLoopbackAddress } from '../lib/address-list.js';
import { parsePort } from '../lib/grammar.js';
import { digest, readSecretEnv, readSecretFile } from '../lib/secret.js';
import { ConfigError, pathFrom, readSection, type Setting, type SettingOrigin } from './settings.js';

export interface StatusListener {
  readonly listen: string;
  readonly port: number;
}

export interface StatusConfig {
  /** The status path on the main listener; a listener of its own answers at every path. */
  readonly path: string;
  /** SHA-256 of the token a reader must send; null: no token. */
  readonly tokenDigest: Buffer | null;
  /** A listener of its own; null: the main listener serves the status. */
  readonly listener: StatusListener | null;
  /** Only clients on this host are answered (by their real address). */
  readonly loopbackClientsOnly: boolean;
  /** Where the Prometheus metrics are served (on the status listener, whichever it is); null: not at all. */
  readonly metricsPath: string | null;
}

/** The keys of [status], for its errors and websocksy --help. */
export const STATUS_KEYS = ['path', 'metrics', 'token-file', 'token-env', 'listen', 'port', 'clients'] as const;

interface Draft {
  path?: string;
  metricsPath?: string;
  token?: string;
  listen?: string;
  port?: number;
  loopbackClientsOnly: boolean;
}

function readToken(key: string, value: string, origin: SettingOrigin): string {
  return key === 'token-file' ? readSecretFile(pathFrom(origin, value.trim())) : readSecretEnv(value.trim());
}

function absolutePath(value: string): string {
  if (!value.trim().startsWith('/')) throw new Error(`"${value}" does not start with /`);
  return value.trim();
}

function apply(draft: Draft, key: string, value: string, origin: SettingOrigin): void {
  if (key === 'path') draft.path = absolutePath(value);
  else if (key === 'metrics') draft.metricsPath = absolutePath(value);
  else if (key === 'token-file' || key === 'token-env') draft.token = readToken(key, value, origin);
  else if (key === 'listen') draft.listen = value.trim().replace(/^\[(.*)\]$/, '$1');
  else if (key === 'port') draft.port = parsePort(value, { allowZero: true });
  else if (key === 'clients') {
    if (value.trim() !== 'loopback' && value.trim() !== 'any') throw new Error(`"${value}" is neither loopback nor any`);
    draft.loopbackClientsOnly = value.trim() === 'loopback';
  } else throw new Error(`unknown key (known: ${STATUS_KEYS.join(', ')})`);
}

/** The [status] section's configuration, or null without one; errors name the file and line. */
export function buildStatusConfig(settings: readonly Setting[]): StatusConfig | null {
  const draft: Draft = { loopbackClientsOnly: false };
  const origin = readSection(settings, 'status', (key, value, at) => apply(draft, key, value, at));
  if (origin === undefined) return null;
  if (draft.path === undefined) throw new ConfigError('[status] needs "path = /something"', origin);
  if (draft.metricsPath === draft.path) throw new ConfigError(`[status] metrics = ${draft.metricsPath} is the status path too: give the metrics a path of their own`, origin);
  if ((draft.listen === undefined) !== (draft.port === undefined)) throw new ConfigError('[status] listen and port go together (a listener of its own for the status)', origin);
  const listener = draft.listen === undefined || draft.port === undefined ? null : { listen: draft.listen, port: draft.port };
  const protectedByAddress = draft.loopbackClientsOnly || (listener !== null && isLoopbackAddress(listener.listen));
  if (draft.token === undefined && !protectedByAddress) {
    throw new ConfigError(
      '[status] shows identities and client addresses, so it needs a token (token-file = FILE or token-env = VARIABLE; readers send Authorization: Bearer TOKEN) ' +
        'or a listener of its own on a loopback address (listen = 127.0.0.1 and port = PORT)',
      origin,
    );
  }
  return {
    path: draft.path,
    tokenDigest: draft.token === undefined ? null : digest(draft.token),
    listener,
    loopbackClientsOnly: draft.loopbackClientsOnly,
    metricsPath: draft.metricsPath ?? null,
  };
}
