/*
 * The plugin folder must be known before any setting is applied: framing plugins register at
 * start-up, before a backend's options name their framing functions, and `backend = NAME` may
 * load a plugin. So the `plugins` option is read ahead of the others, wherever it stands in the
 * file or on the command line (the last one wins), rather than in order like every other setting.
 */
import type { PluginFolder } from '../loader/plugin-folder.js';
import { errorMessage } from '../lib/errors.js';
import { defaultCoreConfig, findCoreOption, type CoreConfig } from './core-options.js';
import { ConfigError, lastCoreSetting, type Setting } from './settings.js';

/** The plugin folder the settings choose. */
export function pluginFolderOf(settings: readonly Setting[]): PluginFolder {
  const chosen = lastCoreSetting(settings, 'plugins');
  if (chosen === undefined) return { path: defaultCoreConfig.plugins, explicit: false };
  const scratch: CoreConfig = { ...defaultCoreConfig };
  try {
    findCoreOption('plugins')?.apply(scratch, chosen.value, chosen.origin);
  } catch (error) {
    throw new ConfigError(`plugins: ${errorMessage(error)}`, chosen.origin);
  }
  return { path: scratch.plugins, explicit: true };
}
