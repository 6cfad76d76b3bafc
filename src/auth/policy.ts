/*
 * What `auth = NAME, NAME` on the bridge or a route means: any one of the listed sections
 * admits. Sections are tried in the order given; a slow one (a password hash, a signature) is
 * awaited before the next is tried. When none admits, the refusal says the most useful thing:
 * 503 if a password check could not even run (try again), else 401 with every credential
 * section's challenge, else 403 for an Origin. The log line names each section's reason.
 */
import type { PeerAuth } from '../core/api.js';
import { Refusal } from '../core/refusal.js';
import type { ClientRequest } from '../core/request.js';
import { withoutCredentials, type Carrier } from './carriers.js';
import { AuthFailure, type AuthOutcome } from './outcome.js';
import type { AuthSection } from './section.js';

export type AdmitResult = PeerAuth | Refusal;

interface Failed {
  readonly section: AuthSection;
  readonly failure: AuthFailure;
}

export class AuthPolicy {
  private readonly carriers: readonly Carrier[];

  constructor(readonly sections: readonly AuthSection[]) {
    this.carriers = sections.flatMap((section) => section.carriers);
  }

  /** The request as whatever serves it sees it: without the credentials these sections read. */
  withoutCredentials(request: ClientRequest): ClientRequest {
    return this.carriers.length === 0 ? request : withoutCredentials(request, this.carriers);
  }

  /** The identity `request` (still carrying its credentials) proves, or the refusal; now when every check is quick. */
  admit(request: ClientRequest): AdmitResult | Promise<AdmitResult> {
    return this.tryFrom(0, request, []);
  }

  private tryFrom(first: number, request: ClientRequest, failed: Failed[]): AdmitResult | Promise<AdmitResult> {
    for (let index = first; index < this.sections.length; index++) {
      const section = this.sections[index] as AuthSection;
      const outcome = section.check(request);
      if (outcome instanceof Promise) return outcome.then((settled) => this.next(index, settled, request, failed));
      if (!(outcome instanceof AuthFailure)) return outcome;
      failed.push({ section, failure: outcome });
    }
    return refusalFor(failed);
  }

  private next(index: number, outcome: AuthOutcome, request: ClientRequest, failed: Failed[]): AdmitResult | Promise<AdmitResult> {
    if (!(outcome instanceof AuthFailure)) return outcome;
    failed.push({ section: this.sections[index] as AuthSection, failure: outcome });
    return this.tryFrom(index + 1, request, failed);
  }
}

function refusalFor(failed: readonly Failed[]): Refusal {
  const detail = failed.map(({ section, failure }) => `[auth ${section.name}] ${failure.why}`).join('; ');
  if (failed.some(({ failure }) => failure.kind === 'busy')) return new Refusal('auth-busy', 503, 'Busy, try again', detail, { 'Retry-After': '1' });
  const challenges = failed.flatMap(({ section, failure }) => {
    const challenge = failure.kind === 'credentials' ? section.challenge(failure) : null;
    return challenge === null ? [] : [challenge];
  });
  if (challenges.length > 0) return new Refusal('credentials', 401, 'Unauthorized', detail, { 'WWW-Authenticate': [...new Set(challenges)].join(', ') });
  return new Refusal('forbidden', 403, 'Forbidden', detail);
}
