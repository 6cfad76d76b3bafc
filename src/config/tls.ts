/*
 * The listener's TLS: `[tls]` gives the default certificate, `[tls SERVER-NAME]` one for each
 * SNI name (`*.example.com` matches one label), and `--tls-cert FILE --tls-key FILE` the
 * default on the command line.
 *   cert = FILE             PEM certificate chain, the server's certificate first
 *   key = FILE              PEM private key
 *   passphrase-file = FILE  one line that opens an encrypted key
 * Relative files are read from the config file's folder. The files are read again on SIGHUP
 * (loadListenerTls), and their errors name the file, line and key here at start.
 */
import type { ListenerTls } from '../front/tls-app.js';
import { errorMessage } from '../lib/errors.js';
import { CertificateError, loadCertificate, type CertificateFiles, type LoadedCertificate } from '../lib/tls-certificate.js';
import { ConfigError, pathFrom, SECTION_START, sectionOf, type Setting, type SettingOrigin } from './settings.js';

export interface CertificateConfig extends CertificateFiles {
  /** The section's first line, or the flag: errors point there. */
  readonly origin: SettingOrigin;
}

export interface TlsConfig {
  readonly default: CertificateConfig;
  /** Lower-case SNI names, in file order. */
  readonly names: ReadonlyMap<string, CertificateConfig>;
}

/** The flags, and the [tls] keys they set. */
export const TLS_FLAGS: ReadonlyArray<{ readonly flag: string; readonly key: string; readonly help: string }> = [
  { flag: 'tls-cert', key: 'cert', help: 'serve TLS (wss://, https://) with this PEM certificate chain; with --tls-key' },
  { flag: 'tls-key', key: 'key', help: 'the PEM private key of --tls-cert' },
];

const CLIENT_CA_REFUSED =
  'client certificates are not available on this engine: uWebSockets.js 20.30 asks for one but lets a client that sends none ' +
  'complete the handshake, and shows websocksy nothing of the certificate, so client-ca could not keep anyone out. ' +
  'Check client certificates in a TLS terminator in front (nginx: ssl_verify_client on), see docs/tls.md';

interface Draft {
  readonly origin: SettingOrigin;
  cert?: string;
  key?: string;
  passphraseFile?: string;
  readonly seen: Set<string>;
}

/** The keys of [tls] and [tls SERVER-NAME], for their errors and websocksy --help. */
export const TLS_KEYS = ['cert', 'key', 'passphrase-file'] as const;

function apply(draft: Draft, key: string, value: string, origin: SettingOrigin): void {
  // A flag overrides the file, as flags do; twice in one section is a mistake.
  if ('file' in origin) {
    if (draft.seen.has(key)) throw new Error('given twice for this certificate');
    draft.seen.add(key);
  }
  const file = value.trim();
  if (key === 'client-ca') throw new Error(CLIENT_CA_REFUSED);
  if (!(TLS_KEYS as readonly string[]).includes(key)) throw new Error(`unknown key (known: ${TLS_KEYS.join(', ')})`);
  if (file === '') throw new Error('the file name is empty');
  const path = pathFrom(origin, file);
  if (key === 'cert') draft.cert = path;
  else if (key === 'key') draft.key = path;
  else draft.passphraseFile = path;
}

function finish(draft: Draft, section: string): CertificateConfig {
  if (draft.cert === undefined || draft.key === undefined) {
    const flags = 'flag' in draft.origin ? ' (--tls-cert and --tls-key go together)' : '';
    throw new ConfigError(`${section} needs cert = FILE and key = FILE${flags}`, draft.origin);
  }
  return { certFile: draft.cert, keyFile: draft.key, passphraseFile: draft.passphraseFile ?? null, origin: draft.origin };
}

/** The [tls] sections and flags, or null when the listener serves plain HTTP. */
export function buildTlsConfig(settings: readonly Setting[]): TlsConfig | null {
  const drafts = new Map<string, Draft>();
  for (const { scope, key, value, origin } of settings) {
    if (scope !== 'tls') continue;
    const name = sectionOf(origin).replace(/^tls\s*/, '').toLowerCase();
    let draft = drafts.get(name);
    if (draft === undefined) {
      draft = { origin, seen: new Set() };
      drafts.set(name, draft);
    }
    if (key === SECTION_START) continue;
    try {
      apply(draft, key, value, origin);
    } catch (error) {
      throw new ConfigError(`${key}: ${errorMessage(error)}`, origin);
    }
  }
  if (drafts.size === 0) return null;
  const main = drafts.get('');
  if (main === undefined) {
    const first = [...drafts.values()][0] as Draft;
    throw new ConfigError('[tls SERVER-NAME] needs a [tls] section too: its certificate serves clients that name no host or another one', first.origin);
  }
  const names = new Map<string, CertificateConfig>();
  for (const [name, draft] of drafts) if (name !== '') names.set(name, finish(draft, `[tls ${name}]`));
  return { default: finish(main, '[tls]'), names };
}

function load(config: CertificateConfig): LoadedCertificate {
  try {
    return loadCertificate(config);
  } catch (error) {
    if (error instanceof CertificateError) throw new ConfigError(error.message, config.origin);
    throw error;
  }
}

/** Reads and checks every certificate; a ConfigError naming the section for the first that fails. */
export function loadListenerTls(config: TlsConfig): ListenerTls {
  const names = new Map<string, LoadedCertificate>();
  for (const [name, certificate] of config.names) names.set(name, load(certificate));
  return { default: load(config.default), names };
}
