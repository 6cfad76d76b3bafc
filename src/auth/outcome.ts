/*
 * What checking a request against one `[auth]` section gives: the identity it proved, or why
 * not. A failure's `why` goes to the log (never a secret); the client sees only a status, its
 * challenge and a neutral body.
 */
import type { PeerAuth } from '../core/api.js';

export type FailureKind =
  /** No credential, or a wrong one: 401 with the section's challenge. */
  | 'credentials'
  /** An Origin the section does not allow: 403. */
  | 'origin'
  /** The password checks are queued past their bound: 503, try again. */
  | 'busy';

export class AuthFailure {
  constructor(
    readonly kind: FailureKind,
    /** For the log: `no token`, `expired`, `wrong password for alice`, ... */
    readonly why: string,
  ) {}
}

export type AuthOutcome = PeerAuth | AuthFailure;

/** An outcome now, or once a slow check (a password hash, a signature) is done. */
export type PendingOutcome = AuthOutcome | Promise<AuthOutcome>;

/** What checks a credential taken from its carrier. */
export interface CredentialCheck {
  /** `Bearer` or `Basic`: the scheme of the 401's WWW-Authenticate. */
  readonly scheme: 'Bearer' | 'Basic';
  /** What the log calls a missing credential: `no token`, `no credentials`. */
  readonly missing: string;
  verify(credential: string): PendingOutcome;
}
