/*
 * Which backends answer only what the configuration spells out: the default peer, and the file
 * backend when no expression takes a request value (so the client cannot pick the file, only a
 * line of it by its subprotocol). Their answers need no allow-list; every other backend's do,
 * as the request can steer them (docs/allow-lists.md). Kept beside the backend objects, not in
 * them: a plugin replacing a builtin by name, or any plugin answer, can never claim it.
 */
import type { Backend } from '../core/api.js';

const fixed = new WeakMap<Backend, () => boolean>();

/** Marks a builtin backend; `isFixed` is asked once the backend is configured. */
export function withFixedAnswers<T extends Backend>(backend: T, isFixed: () => boolean): T {
  fixed.set(backend, isFixed);
  return backend;
}

/** True when every answer of `backend` comes from the configuration alone. */
export function answersAreFixed(backend: Backend): boolean {
  return fixed.get(backend)?.() ?? false;
}
