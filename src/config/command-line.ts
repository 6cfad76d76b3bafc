/*
 * websocksy's command line: `websocksy [FILE] [-p port] [-l host] [-k secs] [-b backend]
 * [-c key=value]...`, read into the same settings a config file gives. Flags keep their order;
 * settings from FILE come before those of the flags.
 */
import { parseArgs } from 'node:util';
import { coreOptions } from './core-options.js';
import { ConfigError, type Setting } from './settings.js';
import { AUTH_KEYS } from './auth-sections.js';
import { ROUTE_KEYS } from './routes.js';
import { STATUS_KEYS } from './status.js';
import { CLUSTER_KEYS } from './cluster.js';
import { TLS_FLAGS, TLS_KEYS } from './tls.js';
import { TUNNEL_KEYS, UPSTREAM_KEYS } from './tunnels.js';

export interface CommandLine {
  readonly configFile?: string;
  readonly settings: readonly Setting[];
  readonly help: boolean;
  readonly version: boolean;
  /** --check: read and load the configuration, say whether it would start, and exit. */
  readonly check: boolean;
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
    check: { type: 'boolean' },
  };
  for (const { flag } of TLS_FLAGS) specs[flag] = { type: 'string' };
  for (const option of coreOptions) {
    specs[option.key] =
      option.argument === ''
        ? { type: 'boolean', ...(option.short === undefined ? {} : { short: option.short }) }
        : { type: 'string', ...(option.short === undefined ? {} : { short: option.short }) };
  }
  return specs;
}

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
  let check = false;
  for (const token of parsed.tokens) {
    if (token.kind !== 'option') continue;
    const flag = token.rawName;
    if (token.name === 'help') help = true;
    else if (token.name === 'version') version = true;
    else if (token.name === 'check') check = true;
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
    } else if (TLS_FLAGS.some((tls) => tls.flag === token.name)) {
      const key = (TLS_FLAGS.find((tls) => tls.flag === token.name) as (typeof TLS_FLAGS)[number]).key;
      settings.push({ scope: 'tls', key, value: token.value ?? '', origin: { flag: `${flag} ${token.value ?? ''}`.trim() } });
    } else {
      const value = token.value ?? 'true';
      settings.push({ scope: 'core', key: token.name, value, origin: { flag: `${flag} ${token.value ?? ''}`.trim() } });
    }
  }
  const configFile = parsed.positionals[0];
  return { ...(configFile === undefined ? {} : { configFile }), settings, help, version, check };
}

function sectionHelp(): Array<[string, string]> {
  return [
    ['[core]', 'every option above by its long name (port = 8001, allow-peers = ...)'],
    ['[backend]', "the chosen backend's own options, in order (defaultpeer and file: README.md, Backends; plugins: their docs)"],
    ['[tunnel]', TUNNEL_KEYS.join(', ')],
    ['[upstream NAME]', UPSTREAM_KEYS.join(', ')],
    ['[route /PREFIX]', ROUTE_KEYS.join(', ')],
    ['[status]', STATUS_KEYS.join(', ')],
    ['[cluster]', CLUSTER_KEYS.join(', ')],
    ['[tls], [tls SERVER-NAME]', TLS_KEYS.join(', ')],
    ...Object.entries(AUTH_KEYS).map(([type, keys]): [string, string] => [`[auth NAME] type = ${type}`, ['origins', 'allow-no-origin', ...keys].join(', ')]),
  ];
}

export function usage(): string {
  const flags: Array<[string, string]> = [
    ['-b, --backend NAME', 'load a backend (default: defaultpeer)'],
    ['-c, --option KEY=VALUE', 'pass an option to the backend loaded at that point'],
  ];
  for (const option of coreOptions) {
    flags.push([`${option.short === undefined ? '    ' : `-${option.short}, `}--${option.key}${option.argument === '' ? '' : ` ${option.argument}`}`, option.help]);
  }
  for (const { flag, help } of TLS_FLAGS) flags.push([`    --${flag} FILE`, help]);
  flags.push(
    ['    --check', 'read the configuration and load what it names (plugins, certificates, backend files, route modules), print every error, and exit: 0 when it would start, 1 when not'],
    ['-h, --help', 'show this help'],
    ['    --version', 'show the version'],
  );
  const width = Math.max(...flags.map(([flag]) => flag.length)) + 2;
  const sections = sectionHelp();
  const sectionWidth = Math.max(...sections.map(([section]) => section.length)) + 2;
  return [
    'usage: websocksy [CONFIG-FILE] [options]',
    '       websocksy WEST-CONFIG.json',
    '       websocksy forward -L|-R [BIND:]PORT:HOST:PORT... URL --token TOKEN|--token-file FILE',
    '       websocksy status [URL] [--json] [--token-file FILE]',
    '',
    'Bridges WebSocket clients to tcp, udp, unix and unix-dgram peers chosen by a backend.',
    '',
    ...flags.map(([flag, help]) => `  ${flag.padEnd(width)}${help}`),
    '',
    'Options apply in order; a config file is read first, then the flags. Sizes take k, m, g.',
    "Relative paths in a config file start from that file's folder; on the command line, from the working directory.",
    '',
    'Config file sections and their keys:',
    ...sections.map(([section, keys]) => `  ${section.padEnd(sectionWidth)}${keys}`),
  ].join('\n');
}
