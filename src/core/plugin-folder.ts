/*
 * Where the plugins are, and which files there are plugins. The folder must be known before any
 * setting is applied: framing plugins register at start-up, before a backend's options name
 * their framing functions, and `backend = NAME` may load a plugin. So the `plugins` option is
 * read ahead of the others, wherever it stands in the file or on the command line (the last one
 * wins), rather than in order like every other setting.
 */
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { ConfigError, type Setting } from './config.js';
import { errorMessage } from './errors.js';
import { defaultCoreConfig, findCoreOption, type CoreConfig } from './options.js';

export interface PluginFolder {
  readonly path: string;
  /** True when a setting chose it: then it must exist. The default folder may be missing. */
  readonly explicit: boolean;
}

/** The plugin folder the settings choose. */
export function pluginFolderOf(settings: readonly Setting[]): PluginFolder {
  const chosen = settings.filter((setting) => setting.scope === 'core' && setting.key === 'plugins').at(-1);
  if (chosen === undefined) return { path: defaultCoreConfig.plugins, explicit: false };
  const scratch: CoreConfig = { ...defaultCoreConfig };
  try {
    findCoreOption('plugins')?.apply(scratch, chosen.value);
  } catch (error) {
    throw new ConfigError(`plugins: ${errorMessage(error)}`, chosen.origin);
  }
  return { path: scratch.plugins, explicit: true };
}

/** Files loaded at start-up: every .so but backends (as in websocksy), and framing_*.mjs/.js. */
function isFramingPluginFile(name: string): boolean {
  if (name.startsWith('backend_')) return false;
  return name.endsWith('.so') || /^framing_.+\.(?:mjs|js)$/.test(name);
}

/** The start-up plugins in `folder`, by file name (so the load order is stable). */
export function framingPluginFiles(folder: PluginFolder): string[] {
  let names: string[];
  try {
    names = readdirSync(folder.path);
  } catch (error) {
    if (!folder.explicit && (error as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw new ConfigError(`plugin folder ${folder.path}: ${errorMessage(error)}`);
  }
  return names.filter(isFramingPluginFile).sort().map((name) => join(folder.path, name));
}

/** The files that may hold backend NAME, in the order they are tried. */
export function backendPluginFiles(folder: PluginFolder, name: string): string[] {
  return ['.so', '.mjs', '.js'].map((extension) => join(folder.path, `backend_${name}${extension}`));
}
