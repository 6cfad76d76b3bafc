/*
 * Reads the server's log as it is written: counts lines by level, groups error lines by
 * message, and keeps every `internal error` line (the guard's: each one is a bug) together
 * with the cases in flight when it was logged, so that its input can be named and replayed.
 * Lines of any level that carry a JavaScript exception's text (a TypeError caught by some
 * catch-all and logged as a reason) are bugs of the same kind: input reached code that threw.
 */
import type { CaseRecord } from './runner.js';
import type { ServerProcess } from './server-process.js';

const EXCEPTION_TEXT = /Cannot read properties|is not a function|is not iterable|is not defined|Maximum call stack|Invalid array length|TypeError|RangeError|ReferenceError|ERR_[A-Z_]{4,}/;

/** A line (logged, or an oracle's finding) and the cases in flight when it was seen. */
export interface Sighting {
  readonly line: string;
  readonly inFlight: readonly CaseRecord[];
}

/** Sightings of one kind: every one counted, the first few kept whole (a bug may repeat thousands of times). */
export class Sightings {
  readonly kept: Sighting[] = [];
  count = 0;

  constructor(private readonly keep = 20) {}

  add(line: string, inFlight: () => readonly CaseRecord[]): void {
    this.count++;
    if (this.kept.length < this.keep) this.kept.push({ line, inFlight: inFlight() });
  }
}

export class LogWatch {
  readonly internalErrors = new Sightings();
  readonly levels = new Map<string, number>();
  /** Error lines by message: how many, and the first one whole. */
  readonly errors = new Map<string, { count: number; first: string }>();
  /** Lines with an exception's text, by message, the first with the cases then in flight. */
  readonly exceptionTexts = new Map<string, { count: number; first: Sighting }>();

  constructor(server: ServerProcess, inFlight: () => readonly CaseRecord[]) {
    server.onLine((line) => {
      const match = /^\S+ (\w+) +(.*?)(?= [\w-]+=|$)/.exec(line);
      if (match === null) return;
      const [, level = '', message = ''] = match;
      this.levels.set(level, (this.levels.get(level) ?? 0) + 1);
      if (level === 'error' && message.startsWith('internal error')) this.internalErrors.add(line, inFlight);
      else if (EXCEPTION_TEXT.test(line)) count(this.exceptionTexts, message, () => ({ line, inFlight: inFlight() }));
      if (level === 'error') count(this.errors, message, () => line);
    });
  }
}

function count<T>(byMessage: Map<string, { count: number; first: T }>, message: string, first: () => T): void {
  const seen = byMessage.get(message);
  if (seen === undefined) byMessage.set(message, { count: 1, first: first() });
  else seen.count++;
}
