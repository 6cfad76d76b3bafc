/*
 * Settings: what the ini file, the command line and a west JSON file each become, one ordered
 * list. Order matters: a backend option goes to the backend loaded at that moment, exactly as in
 * websocksy. Every setting knows where it came from, so that an error names the file, line and
 * key, or the flag, and a relative path in it is read from the folder of the file that said it.
 */
import { dirname, isAbsolute, resolve } from 'node:path';
import { errorMessage } from '../lib/errors.js';

/** Where a setting came from. `section` is absent for a section header itself. */
export type SettingOrigin =
  | { readonly file: string; readonly line: number; readonly section?: string }
  | { readonly flag: string };

export type SettingScope = 'core' | 'backend' | 'tunnel' | 'upstream' | 'status' | 'route' | 'tls' | 'auth' | 'cluster';

export interface Setting {
  /**
   * `core` options (including `backend`), `backend` options handed to the backend, the tunnel
   * sections ([tunnel], [upstream NAME], [status]) that tunnels.ts reads, `[route /prefix]`,
   * which routes.ts reads, the listener's certificates ([tls], [tls NAME]; tls.ts), or
   * `[auth NAME]`, which auth-sections.ts reads.
   */
  readonly scope: SettingScope;
  /** SECTION_START marks where a [tunnel], [upstream], [status], [route], [tls] or [auth] section begins. */
  readonly key: string;
  readonly value: string;
  readonly origin: SettingOrigin;
}

/**
 * The key of the setting an ini file emits for each section header of a section that builds
 * something, so that an empty one is an error rather than nothing at all. No real key is empty.
 */
export const SECTION_START = '';

export class ConfigError extends Error {
  constructor(
    message: string,
    readonly origin?: SettingOrigin,
  ) {
    super(origin === undefined ? message : `${describeOrigin(origin)}: ${message}`);
    this.name = 'ConfigError';
  }
}

/**
 * Every error one reading of a configuration found, in the config's order: one message per line,
 * so that a fix-and-retry cycle is not one error at a time.
 */
export class ConfigErrors extends ConfigError {
  constructor(readonly errors: readonly ConfigError[]) {
    super(errors.map((error) => error.message).join('\n'));
    this.name = 'ConfigErrors';
  }
}

/** What a reading collects its errors into: each part of the config is checked even when one before it failed. */
export class ConfigErrorList {
  private readonly found: ConfigError[] = [];

  add(error: ConfigError): void {
    if (error instanceof ConfigErrors) this.found.push(...error.errors);
    else this.found.push(error);
  }

  /** `build()`'s value, or `fallback` when it threw a ConfigError (kept); anything else is thrown on. */
  attempt<T>(build: () => T, fallback: T): T {
    try {
      return build();
    } catch (error) {
      if (!(error instanceof ConfigError)) throw error;
      this.add(error);
      return fallback;
    }
  }

  /** Throws what was found: the one error as it is, several together in the file's line order (flags after). */
  throwIfAny(): void {
    if (this.found.length === 1) throw this.found[0] as ConfigError;
    if (this.found.length > 1) throw new ConfigErrors([...this.found].sort((a, b) => lineOf(a) - lineOf(b)));
  }
}

function lineOf(error: ConfigError): number {
  return error.origin !== undefined && 'file' in error.origin ? error.origin.line : Number.MAX_SAFE_INTEGER;
}

export function describeOrigin(origin: SettingOrigin): string {
  if (!('file' in origin)) return `command line ${origin.flag}`;
  return origin.section === undefined ? `${origin.file}:${origin.line}` : `${origin.file}:${origin.line} [${origin.section}]`;
}

/** A path as a setting wrote it, made absolute: from the config file's folder, or the working directory for flags. */
export function pathFrom(origin: SettingOrigin, path: string): string {
  if (isAbsolute(path)) return path;
  return 'file' in origin ? resolve(dirname(origin.file), path) : resolve(path);
}

/** The folder relative paths of `origin` start from. */
export function baseDirOf(origin: SettingOrigin): string {
  return 'file' in origin ? dirname(resolve(origin.file)) : process.cwd();
}

/** The `[core]` setting `key` that counts: the last one, the file's or the command line's (a flag comes after the file). */
export function lastCoreSetting(settings: readonly Setting[], key: string): Setting | undefined {
  return settings.filter((setting) => setting.scope === 'core' && setting.key === key).at(-1);
}

/** The section name of a setting read from a file (`upstream office`), or '' for flags. */
export function sectionOf(origin: SettingOrigin): string {
  return 'file' in origin ? (origin.section ?? '') : '';
}

/**
 * Hands each `key = value` of the one section of `scope` to `apply`, whose throw becomes a
 * ConfigError naming the key, file and line; returns where the section starts, or undefined
 * without one.
 */
export function readSection(settings: readonly Setting[], scope: SettingScope, apply: (key: string, value: string, origin: SettingOrigin) => void): SettingOrigin | undefined {
  let start: SettingOrigin | undefined;
  for (const setting of settings) {
    if (setting.scope !== scope) continue;
    start ??= setting.origin;
    if (setting.key === SECTION_START) continue;
    try {
      apply(setting.key, setting.value, setting.origin);
    } catch (error) {
      throw new ConfigError(`${setting.key}: ${errorMessage(error)}`, setting.origin);
    }
  }
  return start;
}
