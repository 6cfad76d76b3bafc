/*
 * Reads the server's log as it is written: counts lines by level, groups error lines by
 * message, and keeps every `internal error` line (the guard's: each one is a bug) together
 * with the cases in flight when it was logged, so that its input can be named and replayed.
 */
import type { CaseRecord } from './runner.js';
import type { ServerProcess } from './server-process.js';

export interface InternalError {
  readonly line: string;
  readonly inFlight: readonly CaseRecord[];
}

export class LogWatch {
  readonly internalErrors: InternalError[] = [];
  readonly levels = new Map<string, number>();
  /** Error lines by message: how many, and the first one whole. */
  readonly errors = new Map<string, { count: number; first: string }>();

  constructor(server: ServerProcess, inFlight: () => readonly CaseRecord[]) {
    server.onLine((line) => {
      const match = /^\S+ (\w+) +(.*?)(?= [\w-]+=|$)/.exec(line);
      if (match === null) return;
      const [, level = '', message = ''] = match;
      this.levels.set(level, (this.levels.get(level) ?? 0) + 1);
      if (level !== 'error') return;
      if (message.startsWith('internal error')) this.internalErrors.push({ line, inFlight: inFlight() });
      const seen = this.errors.get(message);
      if (seen === undefined) this.errors.set(message, { count: 1, first: line });
      else seen.count++;
    });
  }
}
