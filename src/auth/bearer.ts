/*
 * Bearer tokens: the client shows one of a fixed set of secrets. Only their SHA-256 digests are
 * kept, and a presented token's digest is compared with every one of them with
 * timingSafeEqual, so neither the comparison nor which entry matched shows in the timing.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { AuthFailure, type AuthOutcome, type CredentialCheck } from './outcome.js';

/** RFC 6750's b64token: what an `Authorization: Bearer` header can carry. */
export const TOKEN_SYNTAX = /^[A-Za-z0-9\-._~+/]+=*$/;
/** Shorter secrets can be guessed online. */
export const MIN_TOKEN_LENGTH = 16;

export interface NamedToken {
  readonly token: string;
  /** The identity the token stands for, or null. */
  readonly name: string | null;
}

function digest(text: string): Buffer {
  return createHash('sha256').update(text, 'utf8').digest();
}

export class BearerCheck implements CredentialCheck {
  readonly scheme = 'Bearer';
  readonly missing = 'no token';
  private readonly digests: ReadonlyArray<{ readonly digest: Buffer; readonly name: string | null }>;

  constructor(tokens: readonly NamedToken[]) {
    this.digests = tokens.map(({ token, name }) => ({ digest: digest(token), name }));
  }

  verify(credential: string): AuthOutcome {
    const presented = digest(credential);
    let found: { name: string | null } | null = null;
    for (const entry of this.digests) {
      if (timingSafeEqual(entry.digest, presented) && found === null) found = entry;
    }
    if (found === null) return new AuthFailure('credentials', 'unknown token');
    return { method: 'bearer', user: found.name, claims: null };
  }
}
