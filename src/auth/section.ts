/*
 * One `[auth NAME]` section as it runs: an optional Origin allow-list, then (except for
 * `type = origin`) a credential from the first of its carriers that holds one, checked by the
 * section's method.
 */
import { headerValue, type ClientRequest } from '../core/request.js';
import { printable } from '../lib/text.js';
import { takeCredential, type Carrier } from './carriers.js';
import type { OriginList } from './origins.js';
import { AuthFailure, type CredentialCheck, type PendingOutcome } from './outcome.js';

export interface AuthSectionSettings {
  readonly name: string;
  readonly origins: OriginList | null;
  /** Whether a request without an Origin header (a client that is not a browser) passes the Origin check. */
  readonly allowNoOrigin: boolean;
  /** Null for `type = origin`: the Origin check is the whole test. */
  readonly credential: { readonly check: CredentialCheck; readonly carriers: readonly Carrier[] } | null;
  /** The realm of the 401's challenge. */
  readonly realm: string;
}

export class AuthSection {
  constructor(readonly settings: AuthSectionSettings) {}

  get name(): string {
    return this.settings.name;
  }

  /** The carriers this section reads credentials from (none for `type = origin`). */
  get carriers(): readonly Carrier[] {
    return this.settings.credential?.carriers ?? [];
  }

  /** The WWW-Authenticate challenge of a 401 for this section, or null (`type = origin`). */
  challenge(failure: AuthFailure): string | null {
    const credential = this.settings.credential;
    if (credential === null) return null;
    const realm = `realm="${this.settings.realm}"`;
    if (credential.check.scheme === 'Basic') return `Basic ${realm}, charset="UTF-8"`;
    // RFC 6750 §3.1: a request without a token gets no error code.
    return failure.why === credential.check.missing ? `Bearer ${realm}` : `Bearer ${realm}, error="invalid_token"`;
  }

  /** Checks `request`, which still carries its credentials. */
  check(request: ClientRequest): PendingOutcome {
    const { origins, allowNoOrigin, credential } = this.settings;
    if (origins !== null) {
      const origin = headerValue(request, 'origin');
      if (origin === undefined) {
        if (!allowNoOrigin) return new AuthFailure('origin', 'no Origin header');
      } else if (!origins.allows(origin)) {
        return new AuthFailure('origin', `origin ${printable(origin, 128)} not allowed`);
      }
    }
    if (credential === null) return { method: 'origin', user: null, claims: null };
    for (const carrier of credential.carriers) {
      const presented = takeCredential(request, carrier);
      if (presented === undefined) continue;
      if (presented === '') return new AuthFailure('credentials', `empty or unreadable credential in ${carrier.kind}`);
      return credential.check.verify(presented);
    }
    return new AuthFailure('credentials', credential.check.missing);
  }
}
