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

/** Values that need no escaping, quoting or cutting: printable ASCII but `"`, `=` and the backslash. */
const PLAIN_VALUE = /^[!#-<>-[\]-~]{1,256}$/;

/** Quotes a field value when it would otherwise be ambiguous in a key=value line. */
function formatValue(value: string | number | boolean): string {
  if (typeof value !== 'string') return String(value);
  if (PLAIN_VALUE.test(value)) return value;
  if (value === '') return '""';
  const text = printable(value);
  return text === '' || /[\s"=]/.test(text) ? `"${text.replace(/"/g, '\\"')}"` : text;
}

/** Lines of one millisecond share their time stamp: toISOString costs more than the rest of a line. */
let stampMs = -1;
let stampText = '';

function timestamp(): string {
  const now = Date.now();
  if (now !== stampMs) {
    stampMs = now;
    stampText = new Date(now).toISOString();
  }
  return stampText;
}

/**
 * Lines of one turn of the event loop leave together at its end: a write to stderr is a system
 * call (and often a wake-up of whoever reads it), and a busy turn logs several connections'
 * open and close lines. Errors and warnings leave at once, with whatever waits before them; so
 * does everything at exit.
 */
let pending = '';
let flushScheduled = false;
const PENDING_LIMIT = 16 * 1024;

function flushAtTurnEnd(): void {
  flushScheduled = false;
  flushLog();
}

/** Writes the lines still waiting; for code that writes to stderr itself, so that order holds. */
export function flushLog(): void {
  if (pending === '') return;
  const text = pending;
  pending = '';
  process.stderr.write(text);
}

process.on('exit', flushLog);

function write(level: string, message: string, fields: LogFields | undefined, urgent: boolean): void {
  let line = `${timestamp()} ${level} ${message}`;
  if (fields !== undefined) {
    // for-in over an object literal: no entries array, no pair arrays per field.
    for (const key in fields) {
      const value = fields[key];
      if (value !== undefined) line += ` ${key}=${formatValue(value)}`;
    }
  }
  pending += line + '\n';
  if (urgent || pending.length >= PENDING_LIMIT) flushLog();
  else if (!flushScheduled) {
    flushScheduled = true;
    setImmediate(flushAtTurnEnd);
  }
}

export const log = {
  error: (message: string, fields?: LogFields): void => write('error', message, fields, true),
  warn: (message: string, fields?: LogFields): void => write('warn ', message, fields, true),
  info: (message: string, fields?: LogFields): void => write('info ', message, fields, false),
  debug: (message: string, fields?: LogFields): void => {
    if (verbose) write('debug', message, fields, false);
  },
};
