/*
 * One line per event on stderr: time, level, message, then key=value fields. Values are made
 * printable and bounded (text.ts): many of them come from clients. Verbose (debug) lines are
 * off unless asked for; nothing on the data path logs per frame.
 */
import { printable } from './text.js';

export type LogFields = Readonly<Record<string, string | number | boolean | undefined>>;

let verbose = false;

export function setVerbose(on: boolean): void {
  verbose = on;
}

export function isVerbose(): boolean {
  return verbose;
}

/** Quotes a field value when it would otherwise be ambiguous in a key=value line. */
function formatValue(value: string | number | boolean): string {
  if (typeof value !== 'string') return String(value);
  const text = printable(value);
  return text === '' || /[\s"=]/.test(text) ? `"${text.replace(/"/g, '\\"')}"` : text;
}

function write(level: string, message: string, fields?: LogFields): void {
  let line = `${new Date().toISOString()} ${level} ${message}`;
  if (fields !== undefined) {
    for (const [key, value] of Object.entries(fields)) {
      if (value !== undefined) line += ` ${key}=${formatValue(value)}`;
    }
  }
  process.stderr.write(line + '\n');
}

export const log = {
  error: (message: string, fields?: LogFields): void => write('error', message, fields),
  warn: (message: string, fields?: LogFields): void => write('warn ', message, fields),
  info: (message: string, fields?: LogFields): void => write('info ', message, fields),
  debug: (message: string, fields?: LogFields): void => {
    if (verbose) write('debug', message, fields);
  },
};
