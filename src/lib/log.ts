/*
 * One line per event on stderr: time, level, message, then key=value fields; or, with
 * `log-format = json`, one JSON object per line made by pino (time, level, msg, then the same
 * fields as members). Values are made printable and bounded (text.ts): many of them come from
 * clients. Verbose (debug) lines are off unless asked for; nothing on the data path logs per frame.
 */
import type * as Pino from 'pino';
import type { Logger } from 'pino';
import { onDemand } from './on-demand.js';
import { printable } from './text.js';

export type LogFields = Readonly<Record<string, string | number | boolean | undefined>>;

let verbose = false;

export function setVerbose(on: boolean): void {
  verbose = on;
}

export function isVerbose(): boolean {
  return verbose;
}

export type LogFormat = 'text' | 'json';

/** `text` or `json`, as the log-format option and `forward --log-format` take it. */
export function parseLogFormat(value: string): LogFormat {
  const format = value.trim().toLowerCase();
  if (format === 'text' || format === 'json') return format;
  throw new Error(`"${value}" is not text or json`);
}

/** In json format, pino formats each line and hands it to the same batching as the text lines. */
let json: Logger | null = null;
let format: LogFormat = 'text';

/**
 * A worker process (docs/cluster.md) names itself on every line, and writes whole lines of at
 * most PIPE_BUF bytes at a time: its siblings write to the same stderr, and the kernel keeps a
 * pipe write of up to PIPE_BUF bytes from interleaving with another.
 */
let worker: number | null = null;
const PIPE_BUF = 4096;

/** pino, loaded for the json format only: text is the default, and pino's modules would add to every start. */
const pinoModule = onDemand<typeof Pino>('pino');

export function setLogFormat(chosen: LogFormat): void {
  format = chosen;
  const pino = chosen === 'text' ? null : pinoModule().pino;
  json =
    pino === null
      ? null
      : pino(
          { base: worker === null ? null : { worker }, level: 'debug', timestamp: pino.stdTimeFunctions.isoTime, formatters: { level: (label) => ({ level: label }) } },
          { write: (line: string) => (pending += line) },
        );
}

/** This process is worker `index` of a cluster: every line says so. */
export function setLogWorker(index: number): void {
  worker = index;
  setLogFormat(format);
}

/** A field value as a JSON line carries it: client-made strings bounded and made printable, as in text. */
function jsonValue(value: string | number | boolean): string | number | boolean {
  return typeof value !== 'string' || PLAIN_VALUE.test(value) ? value : printable(value);
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
 * call (and often a wake-up of whoever reads it). A busy server logs thousands of connections'
 * open and close lines a second, most turns one connection's, so writes are also rationed:
 * at most WRITES_PER_WINDOW in WINDOW_MS; beyond that, lines wait for the window's end or until
 * PENDING_LIMIT bytes wait. Under load that is a write per 16 KiB instead of one per
 * connection (measured: 12 µs of a bridged connection's 255 µs of CPU went to its lines'
 * writes, bench/README.md "Log lines written in batches"), and a lightly loaded server writes
 * each turn's lines at its end, as before. Errors and warnings leave at once, with whatever
 * waits before them; so does everything at exit.
 */
let pending = '';
let flushScheduled = false;
const PENDING_LIMIT = 16 * 1024;
const WINDOW_MS = 100;
const WRITES_PER_WINDOW = 16;
let windowStart = 0;
let writesInWindow = 0;

function scheduledFlush(): void {
  flushScheduled = false;
  flushLog();
}

function scheduleFlush(): void {
  flushScheduled = true;
  const now = Date.now();
  if (now - windowStart >= WINDOW_MS) {
    windowStart = now;
    writesInWindow = 0;
  }
  if (writesInWindow < WRITES_PER_WINDOW) setImmediate(scheduledFlush);
  // unref: the lines wait for the window, not the process for the lines (exit writes them).
  else setTimeout(scheduledFlush, windowStart + WINDOW_MS - now).unref();
}

/** Writes the lines still waiting; for code that writes to stderr itself, so that order holds. */
export function flushLog(): void {
  if (pending === '') return;
  writesInWindow++;
  const text = pending;
  pending = '';
  if (worker === null || Buffer.byteLength(text) <= PIPE_BUF) {
    process.stderr.write(text);
    return;
  }
  for (const piece of wholeLines(text, PIPE_BUF)) process.stderr.write(piece);
}

/** `text` cut after line ends into pieces of at most `limit` bytes (a longer line is a piece of its own). */
function wholeLines(text: string, limit: number): string[] {
  const pieces: string[] = [];
  let piece = '';
  let bytes = 0;
  for (const line of text.split(/(?<=\n)/)) {
    const size = Buffer.byteLength(line);
    if (bytes + size > limit && piece !== '') {
      pieces.push(piece);
      piece = '';
      bytes = 0;
    }
    piece += line;
    bytes += size;
  }
  if (piece !== '') pieces.push(piece);
  return pieces;
}

process.on('exit', flushLog);

type Level = 'error' | 'warn' | 'info' | 'debug';

/** Level names padded to one width, so that text lines' messages line up. */
const TEXT_LEVEL: Readonly<Record<Level, string>> = { error: 'error', warn: 'warn ', info: 'info ', debug: 'debug' };

function writeJson(logger: Logger, level: Level, message: string, fields: LogFields | undefined): void {
  const record: Record<string, string | number | boolean> = {};
  if (fields !== undefined) {
    for (const key in fields) {
      const value = fields[key];
      if (value !== undefined) record[key] = jsonValue(value);
    }
  }
  logger[level](record, message);
}

function write(level: Level, message: string, fields: LogFields | undefined, urgent: boolean): void {
  if (json !== null) writeJson(json, level, message, fields);
  else appendText(level, message, fields);
  if (urgent || pending.length >= PENDING_LIMIT) flushLog();
  else if (!flushScheduled) scheduleFlush();
}

function appendText(level: Level, message: string, fields: LogFields | undefined): void {
  let line = `${timestamp()} ${TEXT_LEVEL[level]} ${message}`;
  if (worker !== null) line += ` worker=${worker}`;
  if (fields !== undefined) {
    // for-in over an object literal: no entries array, no pair arrays per field.
    for (const key in fields) {
      const value = fields[key];
      if (value !== undefined) line += ` ${key}=${formatValue(value)}`;
    }
  }
  pending += line + '\n';
}

export const log = {
  error: (message: string, fields?: LogFields): void => write('error', message, fields, true),
  warn: (message: string, fields?: LogFields): void => write('warn', message, fields, true),
  info: (message: string, fields?: LogFields): void => write('info', message, fields, false),
  debug: (message: string, fields?: LogFields): void => {
    if (verbose) write('debug', message, fields, false);
  },
};
