/*
 * Which WebSocket engine runs: the uWebSockets.js package silently falls back to a slow
 * `ws`-based shim when its native binary does not load, so websocksy says which one it got.
 */
import { createRequire } from 'node:module';
import uws from 'uWebSockets.js';

export interface EngineInfo {
  readonly native: boolean;
  readonly version: string;
  readonly description: string;
}

export function detectEngine(): EngineInfo {
  const require = createRequire(import.meta.url);
  const { version } = require('uWebSockets.js/package.json') as { version: string };
  // The fallback shim exports only App; the native addon also has SSLApp and the rest.
  const native = typeof (uws as unknown as Record<string, unknown>)['SSLApp'] === 'function';
  const binary = `uws_${process.platform}_${process.arch}_${process.versions.modules}.node`;
  return {
    native,
    version,
    description: native ? `uWebSockets.js ${version} native (${binary})` : `uWebSockets.js ${version} JS FALLBACK (slow; ${binary} did not load)`,
  };
}
