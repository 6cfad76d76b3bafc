/*
 * The signals a server acts on (SIGINT, SIGTERM, SIGHUP), taken before it starts to listen.
 * Left to their default action until the server is up, they killed the process outright: a
 * SIGTERM or SIGINT sent on seeing the "listening" line (a supervisor, a test, a script) ended it
 * about one time in three with no drain and no close frames, and a SIGHUP ended it too. So the
 * ones that come while it starts are held and handed over, in order, once it is up; a second
 * stop signal while it starts exits at once, so that a start that hangs can still be stopped.
 */
import { flushLog, log } from '../lib/log.js';

export type ServerSignal = 'SIGINT' | 'SIGTERM' | 'SIGHUP';

const SERVER_SIGNALS: readonly ServerSignal[] = ['SIGINT', 'SIGTERM', 'SIGHUP'];

export class HeldSignals {
  private readonly early: ServerSignal[] = [];
  private handler: ((signal: ServerSignal) => void) | null = null;

  constructor() {
    for (const signal of SERVER_SIGNALS) process.on(signal, () => this.arrived(signal));
  }

  /** From now on `handler` takes the signals, those held so far first. */
  handTo(handler: (signal: ServerSignal) => void): void {
    this.handler = handler;
    for (const signal of this.early.splice(0)) handler(signal);
  }

  private arrived(signal: ServerSignal): void {
    if (this.handler !== null) {
      this.handler(signal);
      return;
    }
    if (signal !== 'SIGHUP' && this.early.some((held) => held !== 'SIGHUP')) {
      log.warn('second signal while starting: exiting now', { signal });
      flushLog();
      process.exit(1);
    }
    log.info('signal held until the server is up', { signal });
    this.early.push(signal);
  }
}
