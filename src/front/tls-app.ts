/*
 * TLS on a uWS listener. uWS (uSockets over BoringSSL) loads certificates only from file
 * names: each checked certificate (lib/tls-certificate.ts) is written to a private folder,
 * loaded, and the copies removed at once, so the engine loads exactly the bytes that were
 * checked even if the files are being replaced meanwhile. BoringSSL as built into uWS 20.30
 * refuses TLS 1.0 and 1.1 (protocol_version alert); TLS 1.2 is held to ECDHE with AEAD
 * ciphers, TLS 1.3 has only strong suites.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AppOptions, TemplatedApp } from 'uWebSockets.js';
import { CertificateError, type LoadedCertificate } from '../lib/tls-certificate.js';
import { engine } from './engine.js';

/** Mozilla's "intermediate" TLS 1.2 list: forward secrecy and AEAD only (no CBC, no RSA key exchange). */
export const TLS12_CIPHERS = [
  'ECDHE-ECDSA-AES128-GCM-SHA256',
  'ECDHE-RSA-AES128-GCM-SHA256',
  'ECDHE-ECDSA-AES256-GCM-SHA384',
  'ECDHE-RSA-AES256-GCM-SHA384',
  'ECDHE-ECDSA-CHACHA20-POLY1305',
  'ECDHE-RSA-CHACHA20-POLY1305',
].join(':');

/** The certificates of one TLS listener: the default, and one per SNI server name. */
export interface ListenerTls {
  readonly default: LoadedCertificate;
  readonly names: ReadonlyMap<string, LoadedCertificate>;
}

/** Runs `use` with engine options naming private copies of `certificate`'s files. */
function withOptions<T>(certificate: LoadedCertificate, use: (options: AppOptions) => T): T {
  const folder = mkdtempSync(join(tmpdir(), 'websocksy-tls-'));
  try {
    const certFile = join(folder, 'cert.pem');
    const keyFile = join(folder, 'key.pem');
    writeFileSync(certFile, certificate.cert, { mode: 0o600 });
    writeFileSync(keyFile, certificate.key, { mode: 0o600 });
    return use({
      cert_file_name: certFile,
      key_file_name: keyFile,
      ssl_ciphers: TLS12_CIPHERS,
      ...(certificate.passphrase === null ? {} : { passphrase: certificate.passphrase }),
    });
  } finally {
    rmSync(folder, { recursive: true, force: true });
  }
}

/** An SSLApp; throws a CertificateError when BoringSSL cannot load what node:crypto accepted (a curve it lacks, say). */
function sslApp(certificate: LoadedCertificate, options: AppOptions): TemplatedApp {
  try {
    return engine().uws.SSLApp(options);
  } catch {
    const { certFile, keyFile } = certificate.files;
    throw new CertificateError(`the TLS engine (BoringSSL) cannot use the certificate in ${certFile} with the key in ${keyFile} (a key type or curve it does not support?)`);
  }
}

export function createSslApp(certificate: LoadedCertificate): TemplatedApp {
  return withOptions(certificate, (options) => sslApp(certificate, options));
}

/**
 * Adds an SNI server name. uWS gives each name a router of its own, empty: the caller
 * registers its handlers after `app.domain(name)`. uWS 20.30 crashes the process when a
 * server name's context cannot be made, where SSLApp throws: so the same options make a
 * throwaway SSLApp first (a small context, never freed by the engine).
 */
export function addServerName(app: TemplatedApp, name: string, certificate: LoadedCertificate): void {
  withOptions(certificate, (options) => {
    sslApp(certificate, options);
    app.addServerName(name, options);
  });
}
