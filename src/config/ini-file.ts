/*
 * websocksy's ini file: `[core]` and `[backend]` sections (lines before any section are core, as
 * in websocksy), the tunnel and route sections, `key = value` lines, `;` or `#` comment lines.
 * Values follow the `ini` package's rules: quotes are removed, and an unquoted `;` or `#`
 * starts a comment unless escaped with `\`. The whole-file parser of `ini` is not used because
 * it loses line numbers and the order of interleaved keys, both of which websocksy needs.
 */
import { readFileSync } from 'node:fs';
import { unsafe as iniValue } from 'ini';
import { errorCode } from '../lib/errors.js';
import { ConfigError, SECTION_START, type Setting, type SettingScope } from './settings.js';

const SECTIONS = new Set(['core', 'backend', 'tunnel', 'status']);
/** Sections that build something: an empty one is reported, not ignored. */
const BUILDING: ReadonlySet<SettingScope> = new Set(['tunnel', 'upstream', 'status', 'route']);

/** The section's scope, or null when the section is unknown. `[upstream NAME]` and `[route /prefix]` may repeat with different names. */
function sectionScope(name: string): SettingScope | null {
  if (SECTIONS.has(name)) return name as SettingScope;
  if (/^route\s+\/[\w.~%!$&'()*+,;=:@/-]*$/.test(name)) return 'route';
  return /^upstream\s+[\w.-]+$/.test(name) ? 'upstream' : null;
}

export function parseConfigFile(file: string): Setting[] {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    throw new ConfigError(`cannot read config file ${file}: ${errorCode(error)}`);
  }
  const settings: Setting[] = [];
  let section = 'core';
  let scope: SettingScope = 'core';
  const lines = text.replace(/^\uFEFF/, '').split(/\r?\n/);
  lines.forEach((raw, index) => {
    const line = raw.trim();
    const where = { file, line: index + 1, section };
    if (line === '' || line.startsWith(';') || line.startsWith('#')) return;
    if (line.startsWith('[')) {
      const name = /^\[\s*([^\]]*?)\s*\]$/.exec(line)?.[1];
      const named = name === undefined ? null : sectionScope(name);
      if (name === undefined || named === null) {
        throw new ConfigError(`unknown section ${line} (known: [core], [backend], [tunnel], [upstream NAME], [status], [route /prefix])`, { file, line: index + 1 });
      }
      section = name;
      scope = named;
      if (BUILDING.has(named)) settings.push({ scope, key: SECTION_START, value: '', origin: { file, line: index + 1, section } });
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
