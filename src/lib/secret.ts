/*
 * Secrets (tokens, session secrets, the status token): compared in constant time on fixed-length digests, so
 * neither their content nor their length leaks through timing; read from files with the
 * trailing newline removed. They are never logged.
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { readFileSync } from 'node:fs';

export function digest(secret: string): Buffer {
  return createHash('sha256').update(secret, 'utf8').digest();
}

export function sameSecret(given: string, expectedDigest: Buffer): boolean {
  return timingSafeEqual(digest(given), expectedDigest);
}

export function readSecretFile(path: string): string {
  const text = readFileSync(path, 'utf8').replace(/\r?\n$/, '');
  if (text === '' || /[\r\n]/.test(text)) throw new Error(`token file ${path} must hold one non-empty line`);
  return text;
}

/** A secret from the environment variable `variable`; throws when it is unset or empty. */
export function readSecretEnv(variable: string): string {
  const secret = process.env[variable];
  if (secret === undefined || secret === '') throw new Error(`the environment variable ${variable} is not set or empty`);
  return secret;
}

export function randomSecret(bytes: number): string {
  return randomBytes(bytes).toString('base64url');
}
