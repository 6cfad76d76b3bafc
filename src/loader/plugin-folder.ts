/* Where the plugins are, and which files there are plugins (docs/plugins.md). */
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { errorCode } from '../lib/errors.js';
import { PluginError } from '../core/plugin-error.js';

export interface PluginFolder {
  readonly path: string;
  /** True when a setting chose it: then it must exist. The default folder may be missing. */
  readonly explicit: boolean;
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
    throw new PluginError(folder.path, `cannot read the plugin folder: ${errorCode(error)}`);
  }
  return names.filter(isFramingPluginFile).sort().map((name) => join(folder.path, name));
}

/** The files that may hold backend NAME, in the order they are tried. */
export function backendPluginFiles(folder: PluginFolder, name: string): string[] {
  return ['.so', '.mjs', '.js'].map((extension) => join(folder.path, `backend_${name}${extension}`));
}
