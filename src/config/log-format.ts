/*
 * The log format must hold from the first line: plugins and backends log while the rest of the
 * configuration is still being read. So `log-format` is read ahead of the other settings,
 * wherever it stands (the last one wins), as `plugins` is (plugin-folder.ts). A value it cannot
 * read leaves text, and is reported with the other errors when the settings are applied.
 */
import type { LogFormat } from '../lib/log.js';
import { defaultCoreConfig, findCoreOption, type CoreConfig } from './core-options.js';
import { lastCoreSetting, type Setting } from './settings.js';

export function logFormatOf(settings: readonly Setting[]): LogFormat {
  const chosen = lastCoreSetting(settings, 'log-format');
  if (chosen === undefined) return defaultCoreConfig.logFormat;
  const scratch: CoreConfig = { ...defaultCoreConfig };
  try {
    findCoreOption('log-format')?.apply(scratch, chosen.value, chosen.origin);
  } catch {
    return defaultCoreConfig.logFormat;
  }
  return scratch.logFormat;
}
