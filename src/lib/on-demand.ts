/*
 * A CommonJS package loaded the first time it is asked for, then kept: for packages only some
 * configurations use (undici, pino, jsonc-parser), which every start would otherwise load,
 * about a millisecond per module on Node 20 (docs/architecture.md, "Loaded on demand"). ES-only
 * packages and websocksy's own modules are imported where they are needed instead.
 */
import { createRequire } from 'node:module';

const requireHere = createRequire(import.meta.url);

/** `name`'s exports on the first call (a synchronous require), the same ones after. */
export function onDemand<T>(name: string): () => T {
  let loaded: T | undefined;
  return () => (loaded ??= requireHere(name) as T);
}
