/*
 * Why a resume (a HELLO over WebSocket, or an HTTP request with a session's secret) is not
 * served: the same answers on both transports (docs/sessions.md), a close code over WebSocket
 * and the status 4000 below it over HTTP. All but `unavailable` end the session for a client;
 * that one asks it to try again.
 */
import type { RefusalReason } from '../core/refusal.js';

export type ResumeError = 'bad-hello' | 'wrong-secret' | 'no-session' | 'attached' | 'unavailable';

const CODES: Readonly<Record<ResumeError, number>> = { 'bad-hello': 4400, 'wrong-secret': 4403, 'no-session': 4404, attached: 4409, unavailable: 4503 };
const REASONS: Readonly<Record<ResumeError, RefusalReason>> = { 'bad-hello': 'bad-request', 'wrong-secret': 'credentials', 'no-session': 'not-found', attached: 'conflict', unavailable: 'cluster-map-stale' };

export class ResumeRefusal {
  readonly code: number;

  constructor(
    readonly error: ResumeError,
    /** Said to the client; never holds the secret. */
    readonly message: string,
  ) {
    this.code = CODES[error];
  }

  get httpStatus(): number {
    return this.code - 4000;
  }

  /** What the metrics and logs call it over HTTP (core/refusal.ts). */
  get refusalReason(): RefusalReason {
    return REASONS[this.error];
  }
}
