/*
 * TLS towards an upstream (wss:// tunnel servers and routes, https:// routes): the connection
 * is made and verified here, before node:http writes a byte of the request on it, so
 * that headers (cookies, authorization) never reach a server that failed verification.
 *   default       the CAs Node trusts, and the host name checked against the certificate
 *   ca = FILE     only the CAs in FILE (host name still checked)
 *   fingerprint   the server certificate's SHA-256 must match; without `ca`, it replaces the
 *                 CA and host name checks (a self-signed certificate pinned by hash)
 * Every failure is an error that names host:port and why; nothing falls back to plain text.
 */
import { createHash, X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { isIP, type LookupFunction } from 'node:net';
import type { Duplex } from 'node:stream';
import { connect as tlsConnect, type TLSSocket } from 'node:tls';
import { DestinationDenied } from './destination-allow.js';
import { errorCode, errorMessage } from './errors.js';

export interface UpstreamTls {
  /** PEM CAs that replace Node's trusted ones, and the file they came from; null: Node's. */
  readonly ca: { readonly pem: Buffer; readonly file: string } | null;
  /** The server certificate's SHA-256 (32 bytes), or null. */
  readonly fingerprint: Buffer | null;
}

export const DEFAULT_UPSTREAM_TLS: UpstreamTls = { ca: null, fingerprint: null };

/** Time allowed for the TCP connect and the TLS handshake together. */
export const TLS_CONNECT_TIMEOUT_MS = 10_000;

/** `sha256:HEX` (colons between bytes allowed, case ignored) as 32 bytes. */
export function parseFingerprint(text: string): Buffer {
  const match = /^sha256:((?:[0-9a-f]{2}:?){31}[0-9a-f]{2})$/i.exec(text.trim());
  if (match === null) throw new Error(`"${text}" is not sha256:HEX (64 hex digits, colons allowed), e.g. from: openssl x509 -noout -fingerprint -sha256 -in cert.pem`);
  return Buffer.from((match[1] as string).replace(/:/g, ''), 'hex');
}

/** A PEM file holding at least one CA certificate; throws naming the file. */
export function readCaFile(path: string): UpstreamTls['ca'] {
  let pem: Buffer;
  try {
    pem = readFileSync(path);
  } catch (error) {
    throw new Error(`cannot read CA file ${path}: ${errorCode(error)}`);
  }
  try {
    new X509Certificate(pem);
  } catch (error) {
    throw new Error(`${path} holds no PEM certificate (${errorMessage(error)})`);
  }
  return { pem, file: path };
}

function fingerprintOf(socket: TLSSocket): Buffer | null {
  const raw = socket.getPeerCertificate().raw as Buffer | undefined;
  return raw === undefined ? null : createHash('sha256').update(raw).digest();
}

function hex(bytes: Buffer): string {
  return `sha256:${bytes.toString('hex')}`;
}

/** The connection options node:http hands a createConnection function. */
export interface ConnectionTarget {
  readonly host?: string | null | undefined;
  readonly hostname?: string | null | undefined;
  readonly port?: number | string | null | undefined;
  /** Resolves the host name, e.g. holding it to an allow-list (destination-allow.ts). */
  readonly lookup?: LookupFunction | undefined;
}

export type ConnectionCallback = (error: Error | null, socket: Duplex) => void;

/** Connects to the target over TLS and calls back with the socket only once it passed verification. */
export function connectVerified(target: ConnectionTarget, tls: UpstreamTls, done: ConnectionCallback): void {
  const host = (target.hostname ?? target.host ?? 'localhost').replace(/^\[(.*)\]$/, '$1');
  const port = Number(target.port ?? 443);
  const where = isIP(host) === 6 ? `[${host}]:${port}` : `${host}:${port}`;
  // Without a CA, a pinned fingerprint is the whole check: the chain may be self-signed.
  const checkChain = tls.fingerprint === null || tls.ca !== null;
  const socket = tlsConnect({
    host,
    port,
    ...(isIP(host) === 0 ? { servername: host } : {}),
    ...(tls.ca === null ? {} : { ca: tls.ca.pem }),
    rejectUnauthorized: checkChain,
    minVersion: 'TLSv1.2',
    ALPNProtocols: ['http/1.1'],
    ...(target.lookup === undefined ? {} : { lookup: target.lookup }),
  });
  let settled = false;
  const finish = (error: Error | null): void => {
    if (settled) return;
    settled = true;
    socket.setTimeout(0);
    socket.off('error', failed);
    if (error !== null) socket.destroy();
    done(error, socket);
  };
  const failed = (error: NodeJS.ErrnoException): void => {
    // An allow-list refusal stays what it is: the route answers it with 403, not 502.
    if (error instanceof DestinationDenied) return finish(error);
    const code = error.code ?? '';
    const tlsProblem = code.startsWith('ERR_TLS') || /CERT|SELF_SIGNED|UNABLE_TO|SIGNATURE|ISSUER/.test(code);
    const via = tls.ca === null ? '' : ` (CA file ${tls.ca.file})`;
    finish(new Error(tlsProblem ? `TLS verification of ${where} failed${via}: ${errorMessage(error)} (${code})` : `cannot connect over TLS to ${where}: ${code || errorMessage(error)}`));
  };
  socket.setNoDelay(true);
  socket.setTimeout(TLS_CONNECT_TIMEOUT_MS, () => finish(new Error(`TLS connection to ${where} timed out after ${TLS_CONNECT_TIMEOUT_MS} ms`)));
  socket.on('error', failed);
  socket.once('secureConnect', () => {
    if (tls.fingerprint !== null) {
      const seen = fingerprintOf(socket);
      if (seen === null || !seen.equals(tls.fingerprint)) {
        finish(new Error(`TLS verification of ${where} failed: its certificate is ${seen === null ? 'missing' : hex(seen)}, not the pinned ${hex(tls.fingerprint)}`));
        return;
      }
    }
    finish(null);
  });
}

/** A createConnection for node:http's options: returns nothing and calls back when verified. */
export function verifiedConnection(tls: UpstreamTls): (target: ConnectionTarget, done: ConnectionCallback) => undefined {
  return (target, done) => {
    connectVerified(target, tls, done);
    return undefined;
  };
}
