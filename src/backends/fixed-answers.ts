/*
 * Which backends answer only what the configuration spells out: the default peer, and the file
 * backend when no expression takes a request value (so the client cannot pick the file, only a
 * line of it by its subprotocol). Their answers need no allow-list; every other backend's do,
 * as the request can steer them (docs/allow-lists.md). Kept beside the backend objects, not in
 * them: a plugin, even one replacing a builtin by name, can never claim it.
 */
import type { Backend } from '../core/api.js';

/** null: every answer is the configuration's; else why the request can steer them. */
type Steering = () => string | null;

const builtins = new WeakMap<Backend, Steering>();

/** Marks a builtin backend; `steering` is asked once the backend is configured. */
export function withFixedAnswers<T extends Backend>(backend: T, steering: Steering): T {
  builtins.set(backend, steering);
  return backend;
}

/** Why the request can steer `backend`'s answers, or null when the configuration alone fixes them. */
export function steeredBy(backend: Backend): string | null {
  const steering = builtins.get(backend);
  return steering === undefined ? 'plugin answers depend on the request' : steering();
}
