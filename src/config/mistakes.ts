/*
 * What a configuration that loads still says that is most likely a mistake: an `[auth NAME]`
 * section nothing names (it guards nothing, and the bridge or route meant for it stays open),
 * and a `[core]` key given twice in the file (the earlier line no longer counts). Warned at
 * start, at each reload and by `--check`.
 */
import { log } from '../lib/log.js';
import { repeatedCoreKeys, unusedAuthSections } from './apply.js';
import type { Configuration } from './load.js';
import { describeOrigin } from './settings.js';

export function warnOfMistakes(configuration: Configuration): void {
  for (const name of unusedAuthSections(configuration.setup)) log.warn('auth section guards nothing', { section: name, fix: `name it in [core] auth or a route's auth` });
  for (const { key, counted, earlier } of repeatedCoreKeys(configuration.settings)) {
    log.warn('core option given twice', { key, counts: describeOrigin(counted), ignored: describeOrigin(earlier) });
  }
}
