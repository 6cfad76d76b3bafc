/*
 * Certificates for the TLS tests, made by openssl in a temporary folder: two CAs, server
 * certificates (localhost with SAN 127.0.0.1, a second name for SNI, a renewed one, an expired
 * one, one from the other CA, one with an encrypted key) and client certificates from each CA.
 */
import { execFileSync } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { findProgram, requireProgram } from './tools.js';

export const OPENSSL = findProgram(['/usr/bin/openssl', '/usr/local/bin/openssl']);

export interface Pair {
  readonly cert: string;
  readonly key: string;
}

export interface TestCertificates {
  readonly dir: string;
  /** CA file (PEM). */
  readonly ca: string;
  readonly otherCa: string;
  /** localhost, SAN DNS:localhost and IP:127.0.0.1, from `ca`. */
  readonly server: Pair;
  /** The same names, a new key and subject CN=localhost-renewed, from `ca`. */
  readonly renewed: Pair;
  /** alt.test, from `ca`. */
  readonly alt: Pair;
  /** alt.test with subject CN=alt.test-renewed, from `ca`. */
  readonly altRenewed: Pair;
  /** localhost, expired yesterday, from `ca`. */
  readonly expired: Pair;
  /** localhost and 127.0.0.1, from `otherCa`. */
  readonly wrongCa: Pair;
  /** localhost with its key encrypted; the passphrase in `passphraseFile`. */
  readonly encrypted: Pair & { readonly passphraseFile: string };
  readonly client: Pair;
  readonly otherClient: Pair;
  /** brainpool.test on the brainpoolP256r1 curve: OpenSSL (node:crypto) takes it, BoringSSL does not. */
  readonly brainpool: Pair;
}

function openssl(dir: string, args: readonly string[]): void {
  execFileSync(requireProgram(OPENSSL, 'openssl'), args, { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
}

function makeCa(dir: string, name: string, cn: string): void {
  openssl(dir, ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', `${name}.key`, '-out', `${name}.pem`, '-days', '2', '-subj', `/CN=${cn}`]);
}

/**
 * The validity options for a certificate valid `days` days from now, or expired for a negative
 * count: OpenSSL 3.0 (Debian 12) takes `-days -1`; 3.5 (Debian 13) refuses it ("end date before
 * start date") and takes explicit dates, which 3.0 does not know.
 */
function validity(dir: string, days: number): readonly string[] {
  if (days > 0) return ['-days', String(days)];
  const version = execFileSync(requireProgram(OPENSSL, 'openssl'), ['version'], { cwd: dir, encoding: 'utf8' });
  const [major = 0, minor = 0] = (/OpenSSL (\d+)\.(\d+)/.exec(version) ?? []).slice(1).map(Number);
  if (major < 3 || (major === 3 && minor < 4)) return ['-days', String(days)];
  const day = 24 * 3600 * 1000;
  const stamp = (ms: number): string => `${new Date(ms).toISOString().replace(/[-:T]/g, '').slice(0, 14)}Z`;
  return ['-not_before', stamp(Date.now() + (days - 1) * day), '-not_after', stamp(Date.now() + days * day)];
}

function makeLeaf(dir: string, name: string, cn: string, san: string, ca: string, days = 2, keyArgs: readonly string[] = ['-nodes'], curve = 'P-256'): Pair {
  openssl(dir, ['req', '-newkey', 'ec', '-pkeyopt', `ec_paramgen_curve:${curve}`, ...keyArgs, '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', `/CN=${cn}`]);
  writeFileSync(`${dir}/${name}.ext`, `subjectAltName=${san}\n`);
  openssl(dir, ['x509', '-req', '-in', `${name}.csr`, '-CA', `${ca}.pem`, '-CAkey', `${ca}.key`, '-CAcreateserial', ...validity(dir, days), '-extfile', `${name}.ext`, '-out', `${name}.pem`]);
  return { cert: `${dir}/${name}.pem`, key: `${dir}/${name}.key` };
}

export function makeCertificates(dir: string): TestCertificates {
  makeCa(dir, 'ca', 'websocksy test CA');
  makeCa(dir, 'other-ca', 'other test CA');
  const local = 'DNS:localhost,IP:127.0.0.1';
  writeFileSync(`${dir}/passphrase`, 'open sesame\n');
  return {
    dir,
    ca: `${dir}/ca.pem`,
    otherCa: `${dir}/other-ca.pem`,
    server: makeLeaf(dir, 'server', 'localhost', local, 'ca'),
    renewed: makeLeaf(dir, 'renewed', 'localhost-renewed', local, 'ca'),
    alt: makeLeaf(dir, 'alt', 'alt.test', 'DNS:alt.test', 'ca'),
    altRenewed: makeLeaf(dir, 'alt-renewed', 'alt.test-renewed', 'DNS:alt.test', 'ca'),
    expired: makeLeaf(dir, 'expired', 'localhost', local, 'ca', -1),
    wrongCa: makeLeaf(dir, 'wrong-ca', 'localhost', local, 'other-ca'),
    encrypted: { ...makeLeaf(dir, 'encrypted', 'localhost-encrypted', local, 'ca', 2, ['-passout', 'pass:open sesame']), passphraseFile: `${dir}/passphrase` },
    client: makeLeaf(dir, 'client', 'alice', 'DNS:alice', 'ca'),
    otherClient: makeLeaf(dir, 'other-client', 'mallory', 'DNS:mallory', 'other-ca'),
    brainpool: makeLeaf(dir, 'brainpool', 'brainpool.test', 'DNS:brainpool.test', 'ca', 2, ['-nodes'], 'brainpoolP256r1'),
  };
}

/** `sha256:HEX` of a PEM certificate, as `fingerprint =` takes it. */
export function fingerprintOf(certFile: string): string {
  return `sha256:${new X509Certificate(readFileSync(certFile)).fingerprint256}`;
}
