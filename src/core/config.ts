/*
 * Reads websocksy's two ways of being configured, the ini file and the command line, into one
 * ordered list of settings. Order matters: a backend option goes to the backend loaded at that
 * moment, exactly as in websocksy. Nothing is applied here; setup.ts does that.
 */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { unsafe as iniValue } from 'ini';
import { coreOptions } from './options.js';

/** Where a setting came from, so an error can name the file and line, or the flag. */
export type SettingOrigin =
  | { readonly file: string; readonly line: number; readonly section: string }
  | { readonly flag: string };

export interface Setting {
  /**
   * `core` options (including `backend`), `backend` options handed to the backend, or the
   * tunnel sections ([tunnel], [upstream NAME], [status]) that src/tunnel/config.ts reads, or
   * `[route /prefix]`, which src/http/route-config.ts reads.
   */
  readonly scope: 'core' | 'backend' | 'tunnel' | 'upstream' | 'status' | 'route';
  readonly key: string;
  readonly value: string;
  readonly origin: SettingOrigin;
}

export class ConfigError extends Error {
  constructor(
    message: string,
    readonly origin?: SettingOrigin,
  ) {
    super(origin === undefined ? message : `${describeOrigin(origin)}: ${message}`);
    this.name = 'ConfigError';
  }
}

export function describeOrigin(origin: SettingOrigin): string {
  return 'file' in origin ? `${origin.file}:${origin.line} [${origin.section}]` : `command line ${origin.flag}`;
}

const SECTIONS = new Set(['core', 'backend', 'tunnel', 'status']);

/** The section's scope, or null when the section is unknown. `[upstream NAME]` and `[route /prefix]` may repeat with different names. */
function sectionScope(name: string): Setting['scope'] | null {
  if (SECTIONS.has(name)) return name as Setting['scope'];
  if (/^route\s+\/[\w.~%!$&'()*+,;=:@/-]*$/.test(name)) return 'route';
  return /^upstream\s+[\w.-]+$/.test(name) ? 'upstream' : null;
}

/**
 * Parses an ini file: `[core]` and `[backend]` sections (lines before any section are core, as in
 * websocksy), `key = value` lines, `;` or `#` comment lines. Values follow the `ini` package's
 * rules: quotes are removed, and an unquoted `;` or `#` starts a comment unless escaped with `\`.
 * The whole-file parser of `ini` is not used because it loses line numbers and the order of
 * interleaved keys, both of which websocksy needs.
 */
export function parseConfigFile(file: string): Setting[] {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    throw new ConfigError(`cannot read config file ${file}: ${(error as NodeJS.ErrnoException).code ?? String(error)}`);
  }
  const settings: Setting[] = [];
  let section = 'core';
  let scope: Setting['scope'] = 'core';
  const lines = text.replace(/^\uFEFF/, '').split(/\r?\n/);
  lines.forEach((raw, index) => {
    const line = raw.trim();
    const where = { file, line: index + 1, section };
    if (line === '' || line.startsWith(';') || line.startsWith('#')) return;
    if (line.startsWith('[')) {
      const name = /^\[\s*([^\]]*?)\s*\]$/.exec(line)?.[1];
      const named = name === undefined ? null : sectionScope(name);
      if (name === undefined || named === null) {
        throw new ConfigError(`unknown section ${line} (known: [core], [backend], [tunnel], [upstream NAME], [status], [route /prefix])`, { file, line: index + 1, section });
      }
      section = name;
      scope = named;
      return;
    }
    const equals = line.indexOf('=');
    if (equals <= 0) throw new ConfigError(`expected "key = value", found "${line}"`, where);
    const key = line.slice(0, equals).trim();
    const value = iniValue(line.slice(equals + 1));
    settings.push({ scope, key, value, origin: where });
  });
  return settings;
}

export interface CommandLine {
  readonly configFile?: string;
  readonly settings: readonly Setting[];
  readonly help: boolean;
  readonly version: boolean;
}

type ParseOptions = NonNullable<Parameters<typeof parseArgs>[0]>['options'];

/** parseArgs' tokens, typed by hand: with options built at run time TypeScript cannot infer them. */
type FlagToken =
  | { kind: 'option'; name: string; rawName: string; value?: string | undefined }
  | { kind: 'positional' | 'option-terminator' };

function flagSpecs(): ParseOptions {
  const specs: NonNullable<ParseOptions> = {
    backend: { type: 'string', short: 'b' },
    option: { type: 'string', short: 'c', multiple: true },
    help: { type: 'boolean', short: 'h' },
    version: { type: 'boolean' },
  };
  for (const option of coreOptions) {
    specs[option.key] =
      option.argument === ''
        ? { type: 'boolean', ...(option.short === undefined ? {} : { short: option.short }) }
        : { type: 'string', ...(option.short === undefined ? {} : { short: option.short }) };
  }
  return specs;
}

/**
 * Parses `websocksy [FILE] [-p port] [-l host] [-k secs] [-b backend] [-c key=value]...`.
 * Flags keep their order; settings from FILE come before those of the flags.
 */
export function parseCommandLine(argv: readonly string[]): CommandLine {
  let parsed: { positionals: string[]; tokens: FlagToken[] };
  try {
    parsed = parseArgs({ args: [...argv], options: flagSpecs(), allowPositionals: true, strict: true, tokens: true }) as {
      positionals: string[];
      tokens: FlagToken[];
    };
  } catch (error) {
    throw new ConfigError(`${(error as Error).message}; see websocksy --help`);
  }
  if (parsed.positionals.length > 1) {
    throw new ConfigError(`expected at most one config file, got: ${parsed.positionals.join(' ')}`);
  }
  const settings: Setting[] = [];
  let help = false;
  let version = false;
  for (const token of parsed.tokens) {
    if (token.kind !== 'option') continue;
    const flag = token.rawName;
    if (token.name === 'help') help = true;
    else if (token.name === 'version') version = true;
    else if (token.name === 'option') {
      const text = token.value ?? '';
      const equals = text.indexOf('=');
      if (equals <= 0) throw new ConfigError(`expected key=value, found "${text}"`, { flag });
      settings.push({
        scope: 'backend',
        key: text.slice(0, equals).trim(),
        value: text.slice(equals + 1),
        origin: { flag: `${flag} ${text}` },
      });
    } else {
      const value = token.value ?? 'true';
      settings.push({ scope: 'core', key: token.name, value, origin: { flag: `${flag} ${token.value ?? ''}`.trim() } });
    }
  }
  const configFile = parsed.positionals[0];
  return { ...(configFile === undefined ? {} : { configFile }), settings, help, version };
}

export function usage(): string {
  const lines = [
    'usage: websocksy [CONFIG-FILE] [options]',
    '       websocksy WEST-CONFIG.json',
    '       websocksy forward -L|-R [BIND:]PORT:HOST:PORT... URL --token TOKEN|--token-file FILE',
    '',
    'Bridges WebSocket clients to tcp, udp, unix and unix-dgram peers chosen by a backend.',
    '',
    '  -b, --backend NAME       load a backend (default: defaultpeer)',
    '  -c, --option KEY=VALUE   pass an option to the backend loaded at that point',
  ];
  for (const option of coreOptions) {
    const flag = `${option.short === undefined ? '    ' : `-${option.short}, `}--${option.key}${option.argument === '' ? '' : ` ${option.argument}`}`;
    lines.push(`  ${flag.padEnd(24)} ${option.help}`);
  }
  lines.push('  -h, --help               show this help', '      --version            show the version', '');
  lines.push('Options apply in order; a config file is read first, then the flags.');
  lines.push('Config sections: [core], [backend], [tunnel], [upstream NAME], [status], [route /PREFIX].');
  return lines.join('\n');
}
