/*
 * SSLApp's and addServerName's options as node:tls secure contexts. The files are read at once,
 * as uWS loads them in the call (websocksy removes its private copies right after). TLS 1.2 is
 * the least version, as in uWS's BoringSSL; `ssl_ciphers` holds TLS 1.2 to the given suites.
 * A certificate that cannot be loaded throws here, where SSLApp throws "App construction failed".
 */
import { readFileSync } from 'node:fs';
import { createSecureContext, type SecureContext } from 'node:tls';
import { textOf, type Bytes } from './text.js';

export interface TlsFiles {
  readonly cert_file_name?: Bytes;
  readonly key_file_name?: Bytes;
  readonly passphrase?: Bytes;
  readonly ssl_ciphers?: Bytes;
}

export class TlsSetupError extends Error {
  override readonly name = 'TlsSetupError';
}

export function secureContextOf(options: TlsFiles): SecureContext {
  const { cert_file_name: cert, key_file_name: key, passphrase, ssl_ciphers: ciphers } = options;
  if (cert === undefined || key === undefined) throw new TlsSetupError('App construction failed: a TLS app needs cert_file_name and key_file_name');
  try {
    return createSecureContext({
      cert: readFileSync(textOf(cert)),
      key: readFileSync(textOf(key)),
      minVersion: 'TLSv1.2',
      ...(passphrase === undefined ? {} : { passphrase: textOf(passphrase) }),
      ...(ciphers === undefined ? {} : { ciphers: textOf(ciphers) }),
    });
  } catch (error) {
    throw new TlsSetupError(`App construction failed: ${error instanceof Error ? error.message : String(error)}`);
  }
}

/** What `names` holds for an SNI name: the exact name, then a `*.` wildcard one level up, else null. */
export function byServerName<T>(names: ReadonlyMap<string, T>, serverName: string): T | null {
  const name = serverName.toLowerCase();
  const exact = names.get(name);
  if (exact !== undefined) return exact;
  const dot = name.indexOf('.');
  return dot === -1 ? null : (names.get(`*${name.slice(dot)}`) ?? null);
}
