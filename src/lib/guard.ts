/*
 * The one boundary between the libraries that call into websocksy (uWS, net, dgram, ws,
 * node:http, plugins) and its own code. An exception that crossed it would end the process and
 * every connection in it; here it is logged with the connection it belongs to, counted, and only
 * that connection is closed. Every callback such a library enters goes through guarded() or
 * runGuarded(); the hot paths use reportFault() from their own try/catch, which costs nothing
 * until something throws.
 */
import { errorMessage } from './errors.js';
import { log, type LogFields } from './log.js';

/** Something that can be closed on its own when code working for it throws. */
export interface Guarded {
  /** Fields that name it in the log: `id`, `upstream`, `session`. */
  readonly logFields: LogFields;
  /** Closes it (HTTP 500, close 1011, stream reset); called at most once per fault. */
  abortAfterFault(reason: string): void;
}

let faults = 0;

/** Internal errors caught at the boundary since start-up. */
export function faultCount(): number {
  return faults;
}

function stackOf(error: unknown): string | undefined {
  if (!(error instanceof Error) || error.stack === undefined) return undefined;
  return error.stack
    .split('\n')
    .slice(1, 4)
    .map((line) => line.trim().replace(/^at /, ''))
    .join(' < ');
}

/**
 * Logs and counts what `owner`'s code threw in `where`, without closing it: for a failure that
 * leaves the connection whole (a framing plugin's release call, made as the connection ends).
 */
export function noteFault(owner: Guarded, where: string, error: unknown): void {
  faults++;
  log.error('internal error', { ...owner.logFields, where, error: errorMessage(error), stack: stackOf(error) });
}

/** Logs what `owner`'s code threw in `where` and closes `owner`. Never throws. */
export function reportFault(owner: Guarded, where: string, error: unknown): void {
  noteFault(owner, where, error);
  try {
    owner.abortAfterFault(`internal error in ${where}`);
  } catch (closeError) {
    log.error('internal error while closing after an internal error', { ...owner.logFields, where, error: errorMessage(closeError) });
  }
}

/** Runs `body` for `owner`; a throw is reported and closes `owner` alone. */
export function runGuarded(owner: Guarded, where: string, body: () => void): void {
  try {
    body();
  } catch (error) {
    reportFault(owner, where, error);
  }
}

/**
 * Runs `body`, which may return a promise (a plugin's handler, sync or async): a throw, or a
 * rejection later on, is reported and closes `owner` alone.
 */
export function runGuardedAsync(owner: Guarded, where: string, body: () => unknown): void {
  let result: unknown;
  try {
    result = body();
  } catch (error) {
    reportFault(owner, where, error);
    return;
  }
  if (result instanceof Promise) result.catch((error: unknown) => reportFault(owner, where, error));
}

/** `handler` as a callback whose throws close `owner` alone. */
export function guarded<A extends unknown[]>(owner: Guarded, where: string, handler: (...args: A) => void): (...args: A) => void {
  return (...args: A): void => {
    try {
      handler(...args);
    } catch (error) {
      reportFault(owner, where, error);
    }
  };
}

/** A process-wide owner for callbacks that belong to no one connection (timers, listeners). */
export function processOwner(name: string): Guarded {
  return {
    logFields: { component: name },
    abortAfterFault: () => undefined,
  };
}
