/*
 * JWT bearer tokens, checked by jose: the signature with a key from a file (a PEM public key,
 * or an HS256 secret) or a local JWKS file, only with the algorithms the section lists (never
 * `none`), then exp and nbf with the leeway, aud and iss when configured. The user claim names
 * the client; every claim reaches the backend (PeerQuery.auth).
 */
import type * as Jose from 'jose';
import type { JWTVerifyGetKey, JWTPayload } from 'jose';
import type { KeyObject } from 'node:crypto';
import type { JsonValue } from '../core/api.js';
import { errorMessage } from '../lib/errors.js';
import { AuthFailure, type AuthOutcome, type CredentialCheck } from './outcome.js';

/** jose's module, as loadJose() gives it. */
export type JoseModule = typeof Jose;

/**
 * Loads jose, for a configuration with a `type = jwt` section only: its fifty-odd modules
 * would add to every start (jose is an ES module alone, so this is asynchronous).
 */
export function loadJose(): Promise<JoseModule> {
  return import('jose');
}

export const JWT_ALGORITHMS = ['HS256', 'RS256', 'ES256', 'EdDSA'] as const;
export type JwtAlgorithm = (typeof JWT_ALGORITHMS)[number];

export interface JwtSettings {
  readonly algorithms: readonly JwtAlgorithm[];
  /** A public key, an HS256 secret, or a key set chosen by the token's kid. */
  readonly key: KeyObject | Uint8Array | JWTVerifyGetKey;
  readonly audience: string | null;
  readonly issuer: string | null;
  readonly leewaySeconds: number;
  readonly userClaim: string;
  readonly requireExp: boolean;
}

/** Why jose refused a token, in the words of the log. */
function reason(error: unknown, errors: JoseModule['errors']): string {
  if (error instanceof errors.JWTExpired) return 'expired';
  if (error instanceof errors.JWTClaimValidationFailed) {
    if (error.claim === 'nbf') return 'not yet valid';
    if (error.claim === 'aud') return 'wrong audience';
    if (error.claim === 'iss') return 'wrong issuer';
    return `claim ${error.claim}: ${error.reason}`;
  }
  if (error instanceof errors.JWSSignatureVerificationFailed) return 'bad signature';
  if (error instanceof errors.JOSEAlgNotAllowed) return 'alg not allowed';
  if (error instanceof errors.JWKSNoMatchingKey) return 'no key matches the token';
  if (error instanceof errors.JWSInvalid || error instanceof errors.JWTInvalid) return 'malformed token';
  return `refused: ${errorMessage(error)}`;
}

/** The protected header's alg, or null when the token has no readable header. */
function headerAlgorithm(token: string): string | null {
  const dot = token.indexOf('.');
  if (dot <= 0) return null;
  try {
    const header: unknown = JSON.parse(Buffer.from(token.slice(0, dot), 'base64url').toString('utf8'));
    return typeof header === 'object' && header !== null && 'alg' in header && typeof header.alg === 'string' ? header.alg : null;
  } catch {
    return null;
  }
}

export class JwtCheck implements CredentialCheck {
  readonly scheme = 'Bearer';
  readonly missing = 'no token';

  constructor(
    private readonly settings: JwtSettings,
    private readonly jose: JoseModule,
  ) {}

  async verify(credential: string): Promise<AuthOutcome> {
    const { settings } = this;
    // jose refuses `none` too; said here first so that the log names it.
    if (headerAlgorithm(credential)?.toLowerCase() === 'none') return new AuthFailure('credentials', 'alg none refused');
    let payload: JWTPayload;
    try {
      const options = {
        algorithms: [...settings.algorithms],
        clockTolerance: settings.leewaySeconds,
        requiredClaims: settings.requireExp ? ['exp'] : [],
        ...(settings.audience === null ? {} : { audience: settings.audience }),
        ...(settings.issuer === null ? {} : { issuer: settings.issuer }),
      };
      const key = settings.key;
      // jose has one overload for a key and one for a function that picks it (a key set).
      const { jwtVerify } = this.jose;
      payload = (typeof key === 'function' ? await jwtVerify(credential, key, options) : await jwtVerify(credential, key, options)).payload;
    } catch (error) {
      return new AuthFailure('credentials', reason(error, this.jose.errors));
    }
    const user = payload[settings.userClaim];
    if (typeof user !== 'string' && typeof user !== 'number') return new AuthFailure('credentials', `no ${settings.userClaim} claim`);
    return { method: 'jwt', user: String(user), claims: payload as { readonly [claim: string]: JsonValue } };
  }
}
