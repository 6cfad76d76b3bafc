/*
 * A listener's certificate and key, read once and checked with node:crypto before the engine
 * sees them: the certificate parses and has not expired, the key opens (with its passphrase)
 * and belongs to the certificate. uWS would otherwise make a listener without them and say
 * nothing, or keep a half-loaded context; here a broken file is an error that names it.
 */
import { createHash, createPrivateKey, X509Certificate, type KeyObject } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { errorCode, errorMessage } from './errors.js';

export interface CertificateFiles {
  readonly certFile: string;
  readonly keyFile: string;
  /** A file whose one line opens an encrypted key; null for a plain key. */
  readonly passphraseFile: string | null;
}

export interface LoadedCertificate {
  readonly files: CertificateFiles;
  /** The PEM chain as read: the server's certificate first. */
  readonly cert: Buffer;
  readonly key: Buffer;
  readonly passphrase: string | null;
  readonly subject: string;
  /** `sha256:HEX` of the server's certificate (DER). */
  readonly fingerprint: string;
  readonly validTo: Date;
  /** Changes whenever anything handed to the engine changes: equal digests need no reload. */
  readonly digest: string;
}

export class CertificateError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'CertificateError';
  }
}

function readFile(path: string, what: string): Buffer {
  try {
    return readFileSync(path);
  } catch (error) {
    throw new CertificateError(`cannot read ${what} ${path}: ${errorCode(error)}`);
  }
}

function readPassphrase(path: string): string {
  const text = readFile(path, 'passphrase file').toString('utf8').replace(/\r?\n$/, '');
  if (text === '' || /[\r\n]/.test(text)) throw new CertificateError(`passphrase file ${path} must hold one non-empty line`);
  return text;
}

/** `sha256:HEX` of a certificate's DER bytes, the form `fingerprint =` pins take. */
export function certificateFingerprint(der: Buffer): string {
  return `sha256:${createHash('sha256').update(der).digest('hex')}`;
}

export function loadCertificate(files: CertificateFiles, now = new Date()): LoadedCertificate {
  const cert = readFile(files.certFile, 'certificate');
  const key = readFile(files.keyFile, 'key');
  const passphrase = files.passphraseFile === null ? null : readPassphrase(files.passphraseFile);
  let x509: X509Certificate;
  try {
    x509 = new X509Certificate(cert);
  } catch (error) {
    throw new CertificateError(`${files.certFile} holds no PEM certificate (${errorMessage(error)})`);
  }
  let privateKey: KeyObject;
  try {
    privateKey = createPrivateKey(passphrase === null ? { key } : { key, passphrase });
  } catch (error) {
    const hint = passphrase === null ? ' (an encrypted key needs passphrase-file)' : '';
    throw new CertificateError(`${files.keyFile} holds no usable private key${hint}: ${errorMessage(error)}`);
  }
  if (!x509.checkPrivateKey(privateKey)) throw new CertificateError(`the key in ${files.keyFile} does not belong to the certificate in ${files.certFile}`);
  const validTo = new Date(x509.validTo);
  if (validTo.getTime() <= now.getTime()) throw new CertificateError(`the certificate in ${files.certFile} expired on ${validTo.toISOString()}`);
  const digest = createHash('sha256').update(cert).update('\0').update(key).update('\0').update(passphrase ?? '').digest('hex');
  return { files, cert, key, passphrase, subject: x509.subject.replace(/\n/g, ', '), fingerprint: certificateFingerprint(x509.raw), validTo, digest };
}
