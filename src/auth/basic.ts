/*
 * HTTP Basic: `name:HASH` lines, the hash bcrypt or argon2, never plain text. A check runs in
 * a worker thread (hash-pool.ts); a success is remembered for a minute under a digest of the
 * user, the password and the stored hash, so routes that see Basic on every request answer at
 * once and a changed password is never taken from the memory. An unknown user costs the same
 * hash check as a known one, so the timing does not say which names exist.
 */
import { createHash } from 'node:crypto';
import { errorMessage } from '../lib/errors.js';
import { printable } from '../lib/text.js';
import { hashPool, type PasswordVerifier } from './hash-pool.js';
import { AuthFailure, type AuthOutcome, type CredentialCheck, type PendingOutcome } from './outcome.js';

const BCRYPT = /^\$2[aby]\$\d\d\$[./A-Za-z0-9]{53}$/;
const ARGON2 = /^\$argon2id?\$v=\d+\$m=\d+,t=\d+,p=\d+\$[A-Za-z0-9+/]+\$[A-Za-z0-9+/]+$/;
const REMEMBER_MS = 60_000;
const REMEMBERED_LIMIT = 10_000;

/** True for a hash this section can check: bcrypt ($2a$, $2b$, $2y$) or argon2 ($argon2id$, $argon2i$). */
export function isPasswordHash(text: string): boolean {
  return BCRYPT.test(text) || ARGON2.test(text);
}

/** `user:password` from a Basic credential, or null when it is not base64 of that. */
function decode(credential: string): { user: string; password: string } | null {
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(credential)) return null;
  const text = Buffer.from(credential, 'base64').toString('utf8');
  const colon = text.indexOf(':');
  return colon < 0 ? null : { user: text.slice(0, colon), password: text.slice(colon + 1) };
}

export class BasicCheck implements CredentialCheck {
  readonly scheme = 'Basic';
  readonly missing = 'no credentials';
  /** Digest → when it stops counting. */
  private readonly remembered = new Map<string, number>();
  /** Checked for unknown users, so that they take as long as known ones. */
  private readonly decoy: string;

  constructor(
    private readonly users: ReadonlyMap<string, string>,
    private readonly pool: PasswordVerifier = hashPool,
  ) {
    const first = users.values().next();
    if (first.done === true) throw new Error('no users');
    this.decoy = first.value;
  }

  verify(credential: string): PendingOutcome {
    const given = decode(credential);
    if (given === null) return new AuthFailure('credentials', 'malformed Basic credentials');
    const hash = this.users.get(given.user);
    const key = createHash('sha256').update(`${given.user}\0${given.password}\0${hash ?? ''}`).digest('base64');
    const until = this.remembered.get(key);
    if (hash !== undefined && until !== undefined && until > Date.now()) return this.admitted(given.user);
    if (this.pool.full) return new AuthFailure('busy', 'too many password checks waiting');
    return this.check(given.user, given.password, hash, key);
  }

  private async check(user: string, password: string, hash: string | undefined, key: string): Promise<AuthOutcome> {
    let ok: boolean;
    try {
      ok = await this.pool.verify(password, hash ?? this.decoy);
    } catch (error) {
      return new AuthFailure('busy', `password check failed: ${errorMessage(error)}`);
    }
    if (hash === undefined) return new AuthFailure('credentials', `unknown user ${printable(user, 64)}`);
    if (!ok) return new AuthFailure('credentials', `wrong password for ${printable(user, 64)}`);
    this.remember(key);
    return this.admitted(user);
  }

  private remember(key: string): void {
    const now = Date.now();
    if (this.remembered.size >= REMEMBERED_LIMIT) {
      for (const [old, until] of this.remembered) if (until <= now) this.remembered.delete(old);
      // Still full of live entries: the oldest goes (a Map keeps insertion order).
      const oldest = this.remembered.keys().next();
      if (this.remembered.size >= REMEMBERED_LIMIT && oldest.done !== true) this.remembered.delete(oldest.value);
    }
    this.remembered.delete(key);
    this.remembered.set(key, now + REMEMBER_MS);
  }

  private admitted(user: string): AuthOutcome {
    return { method: 'basic', user, claims: null };
  }
}
