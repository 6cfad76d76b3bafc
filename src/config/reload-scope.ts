/*
 * What a reload (SIGHUP) may change while the server runs. Everything a new connection meets is
 * built again; what outlives connections stays as started, and a reload that changes it says so:
 * the listeners (a change is refused: nothing is applied), and, kept with a warning, the tunnel
 * runtime (its sessions and -R listeners live on; the identities file is read again), the
 * resumable sessions' settings, the [cluster] section, the engine, the framing plugins, the log format and the metrics path.
 */
import type { Configuration } from './load.js';
import { lastCoreSetting, type Setting } from './settings.js';

function sectionText(settings: readonly Setting[], scopes: ReadonlySet<Setting['scope']>): string {
  return settings.filter((setting) => scopes.has(setting.scope)).map((setting) => `${setting.key}=${setting.value}`).join('\n');
}

function listenersOf(configuration: Configuration): string {
  const { core, status } = configuration.setup;
  const extra = configuration.extraListeners.map((listener) => `${listener.listen}:${listener.port}`);
  const statusListener = status?.listener ?? null;
  return [`${core.listen}:${core.port}`, ...extra, statusListener === null ? '' : `status ${statusListener.listen}:${statusListener.port}`].join(' ');
}

const TUNNEL_SCOPES: ReadonlySet<Setting['scope']> = new Set(['tunnel', 'upstream']);
const CLUSTER_SCOPES: ReadonlySet<Setting['scope']> = new Set(['cluster']);
/** `[core]` keys whose running values a reload keeps (`plugins`: for the framing plugins loaded at start). */
export const KEPT_CORE_KEYS = ['session-path', 'session-limit', 'session-buffer', 'session-grace', 'allow-js-engine', 'plugins', 'log-format', 'workers'] as const;

export interface ReloadScope {
  /** Why the reload is refused (the listeners changed), or null. */
  readonly refused: string | null;
  /** What changed but keeps its running value until a restart. */
  readonly kept: readonly string[];
}

export function reloadScope(running: Configuration, next: Configuration): ReloadScope {
  const [before, after] = [listenersOf(running), listenersOf(next)];
  const refused = before === after ? null : `the listeners changed (${before} → ${after}): a restart applies that`;
  const kept: string[] = [];
  if (sectionText(running.settings, TUNNEL_SCOPES) !== sectionText(next.settings, TUNNEL_SCOPES)) kept.push('[tunnel] and [upstream] sections (the identities file is read again)');
  // The registry's connection and this node's link live as long as the process.
  if (sectionText(running.settings, CLUSTER_SCOPES) !== sectionText(next.settings, CLUSTER_SCOPES)) kept.push('[cluster] section');
  for (const key of KEPT_CORE_KEYS) {
    if (lastCoreSetting(running.settings, key)?.value !== lastCoreSetting(next.settings, key)?.value) kept.push(key);
  }
  // The metrics' observers are built into every part at start (server/served.ts).
  if ((running.setup.status?.metricsPath ?? null) !== (next.setup.status?.metricsPath ?? null)) kept.push('[status] metrics');
  return { refused, kept };
}
