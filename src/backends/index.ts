/*
 * The backends built into websocksy, by the name `backend = …` selects them with.
 */
import type { BackendFactory } from '../core/api.js';
import { createDefaultPeer } from './defaultpeer.js';
import { createFileBackend } from './file.js';

export const builtinBackends: ReadonlyMap<string, BackendFactory> = new Map([
  ['defaultpeer', createDefaultPeer],
  ['file', createFileBackend],
]);
