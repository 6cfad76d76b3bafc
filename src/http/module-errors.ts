/*
 * The errors websocksy's own objects throw into a route module's handler when an exchange ends
 * under it: they carry the RouteErrorCode a module may test for. When one comes back out of the
 * handler (a module that lets it propagate, as it should), it is the exchange ending as
 * websocksy ended it, not a fault of the module's.
 */
import { RouteErrorCode } from '../core/route-api.js';

export class ClientGoneError extends Error {
  readonly code = RouteErrorCode.clientGone;

  constructor(why: string) {
    super(why);
    this.name = 'ClientGoneError';
  }
}

export class BodyTooLargeError extends Error {
  readonly code = RouteErrorCode.bodyTooLarge;

  constructor(readonly limit: number) {
    super(`the request body is larger than max-body (${limit} bytes)`);
    this.name = 'BodyTooLargeError';
  }
}

/** True for the errors above: the exchange was ended by websocksy or the client, not broken by the module. */
export function endedUnderModule(error: unknown): boolean {
  return error instanceof ClientGoneError || error instanceof BodyTooLargeError;
}
