/*
 * Header names lower-cased, remembered: the responses of one upstream carry the same few names
 * in the same spelling, so after the first response each name is one lookup, whose hash the
 * string keeps for the next lookup of the same string (the parser checks the name, then the
 * relay filters it). Names that are not tokens are never remembered.
 */
import { isFieldName } from '../lib/http-field.js';

const known = new Map<string, string>();
/** A bound on what a hostile upstream could make the cache hold. */
const KNOWN_LIMIT = 512;

/** `name` lower-cased, once it is known to be a token; null when it is not one. */
export function lowerTokenName(name: string): string | null {
  const lower = known.get(name);
  if (lower !== undefined) return lower;
  if (!isFieldName(name)) return null;
  const computed = name.toLowerCase();
  if (known.size < KNOWN_LIMIT) known.set(name, computed);
  return computed;
}

/** `name` lower-cased, through the cache when it is a token. */
export function lowerHeaderName(name: string): string {
  return lowerTokenName(name) ?? name.toLowerCase();
}
