/*
 * Session ids and secrets. The id names a session and is not secret (96 random bits; in a
 * cluster, the first 16 are the number of the node that made it, so that any node knows whose
 * session an id names); the secret is 128 random bits, shown once to the client, kept only as its
 * SHA-256, compared in constant time, never logged.
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';

/** `node`: the number of the cluster's node that makes it (cluster/registry.ts), or null outside a cluster. */
export function newSessionId(node: number | null): string {
  const bytes = randomBytes(12);
  if (node !== null) bytes.writeUInt16BE(node, 0);
  return bytes.toString('base64url');
}

/** The node whose session `id` (one that looksLikeSessionId) names, in a cluster. */
export function nodeOfSessionId(id: string): number {
  return Buffer.from(id.slice(0, 4), 'base64url').readUInt16BE(0);
}

export interface SessionSecret {
  /** What the client is given, once. */
  readonly text: string;
  readonly digest: Buffer;
}

function digestOf(text: string): Buffer {
  return createHash('sha256').update(text, 'utf8').digest();
}

export function newSecret(): SessionSecret {
  const text = randomBytes(16).toString('base64url');
  return { text, digest: digestOf(text) };
}

/** Both sides are hashed first, so the comparison takes the same time whatever the guess's length. */
export function secretMatches(digest: Buffer, offered: string): boolean {
  return timingSafeEqual(digest, digestOf(offered));
}

/** Session ids are 16 base64url characters; anything else is no session, without a lookup. */
export function looksLikeSessionId(text: string): boolean {
  return /^[\w-]{16}$/.test(text);
}
