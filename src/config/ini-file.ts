/*
 * websocksy's ini file: `[core]` and `[backend]` sections (lines before any section are core, as
 * in websocksy), the tunnel and route sections, `key = value` lines, `;` or `#` comment lines.
 * Unquoted values follow the `ini` package's rules: an unquoted `;` or `#` starts a comment
 * unless escaped with `\`. A quoted value ("..." with JSON escapes, '...' as it stands) may be
 * followed by a comment; `ini` would keep the quotes then, and keeps an unclosed quote as part
 * of the value, so both are read here, and a quote that never closes is an error. The
 * whole-file parser of `ini` is not used because it loses line numbers and the order of
 * interleaved keys, both of which websocksy needs.
 */
import { readFileSync } from 'node:fs';
import { unsafe as iniValue } from 'ini';
import { errorCode, errorMessage } from '../lib/errors.js';
import { ConfigError, ConfigErrorList, SECTION_START, type Setting, type SettingScope } from './settings.js';

const SECTIONS = new Set(['core', 'backend', 'tunnel', 'status', 'cluster']);
/** Sections that build something: an empty one is reported, not ignored. */
const BUILDING: ReadonlySet<SettingScope> = new Set(['tunnel', 'upstream', 'status', 'route', 'tls', 'auth', 'cluster']);

/**
 * The section's scope, or null when the section is unknown. `[upstream NAME]`, `[route /prefix]`,
 * `[tls SERVER-NAME]` and `[auth NAME]` may repeat with different names.
 */
function sectionScope(name: string): SettingScope | null {
  if (SECTIONS.has(name)) return name as SettingScope;
  if (/^tls(\s+(\*\.)?[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)*)?$/.test(name)) return 'tls';
  if (/^auth\s+[\w.-]+$/.test(name)) return 'auth';
  if (/^route\s+\/[\w.~%!$&'()*+,;=:@/-]*$/.test(name)) return 'route';
  return /^upstream\s+[\w.-]+$/.test(name) ? 'upstream' : null;
}

/** Where the quote opening `text` closes, or -1; inside "...", a backslash escapes the next character. */
function closingQuote(text: string, quote: string): number {
  for (let at = 1; at < text.length; at++) {
    if (quote === '"' && text[at] === '\\') at++;
    else if (text[at] === quote) return at;
  }
  return -1;
}

/** The value of a `key = value` line; throws an Error saying what is wrong with its quotes. */
function settingValue(raw: string): string {
  const text = raw.trim();
  const quote = text[0];
  if (quote !== '"' && quote !== "'") return iniValue(text);
  const close = closingQuote(text, quote);
  if (close < 0) throw new Error(`the quote that opens ${text} never closes`);
  const rest = text.slice(close + 1).trim();
  if (rest !== '' && !rest.startsWith(';') && !rest.startsWith('#')) throw new Error(`"${rest}" follows the closing quote (a comment starts with ; or #)`);
  if (quote === "'") return text.slice(1, close);
  try {
    return JSON.parse(text.slice(0, close + 1)) as string;
  } catch {
    throw new Error(`${text.slice(0, close + 1)} is not a valid "quoted" value (its escapes are JSON's: \\" \\\\ \\n \\uXXXX; '...' keeps backslashes as written)`);
  }
}

/** What is wrong with a section header that names no known section. */
function sectionProblem(line: string, name: string | undefined): string {
  const kind = name === undefined ? undefined : /^(route|upstream|tls|auth)\b/.exec(name)?.[1];
  if (kind === 'route') return `${line} is not [route /PREFIX]: the prefix is a path starting with /, without spaces`;
  if (kind === 'upstream' || kind === 'auth') return `${line} is not [${kind} NAME]: the name is letters, digits, ".", "_" and "-"`;
  if (kind === 'tls') return `${line} is not [tls] or [tls SERVER-NAME]: a server name is a host name such as example.com or *.example.com`;
  return `unknown section ${line} (known: [core], [backend], [tunnel], [upstream NAME], [status], [route /prefix], [tls], [tls SERVER-NAME], [auth NAME])`;
}

/**
 * The settings of an ini file, in order. A line's error goes to `errors` when given (the caller
 * goes on with the lines that were read, to find the errors after them); without it, every
 * line's error is thrown together.
 */
export function parseConfigFile(file: string, collect?: ConfigErrorList): Setting[] {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    throw new ConfigError(`cannot read config file ${file}: ${errorCode(error)}`);
  }
  const settings: Setting[] = [];
  const errors = collect ?? new ConfigErrorList();
  let section = 'core';
  // null: inside a section whose header was refused; its keys are skipped, not misfiled.
  let scope: SettingScope | null = 'core';
  const lines = text.replace(/^\uFEFF/, '').split(/\r?\n/);
  lines.forEach((raw, index) => {
    const line = raw.trim();
    const where = { file, line: index + 1, section };
    if (line === '' || line.startsWith(';') || line.startsWith('#')) return;
    if (line.startsWith('[')) {
      const name = /^\[\s*([^\]]*?)\s*\]$/.exec(line)?.[1];
      const named = name === undefined ? null : sectionScope(name);
      if (name === undefined || named === null) {
        errors.add(new ConfigError(sectionProblem(line, name), { file, line: index + 1 }));
        scope = null;
        return;
      }
      section = name;
      scope = named;
      if (BUILDING.has(named)) settings.push({ scope, key: SECTION_START, value: '', origin: { file, line: index + 1, section } });
      return;
    }
    if (scope === null) return;
    const equals = line.indexOf('=');
    if (equals <= 0) {
      errors.add(new ConfigError(`expected "key = value", found "${line}"`, where));
      return;
    }
    const key = line.slice(0, equals).trim();
    try {
      settings.push({ scope, key, value: settingValue(line.slice(equals + 1)), origin: where });
    } catch (error) {
      errors.add(new ConfigError(`${key}: ${errorMessage(error)}`, where));
    }
  });
  if (collect === undefined) errors.throwIfAny();
  return settings;
}
