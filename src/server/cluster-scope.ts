/*
 * What a cluster of workers cannot serve yet. Tunnel identities and their -R listeners are
 * owned by the process they reached; with several workers, a request for one would land on a
 * worker that does not hold it, one time in N. Until the cluster's registry forwards such
 * requests to their owner, as it does a session's (docs/cluster.md, "Not yet"), `workers` above
 * 1 is refused with them, naming the setting, instead of failing one request in N.
 */
import type { Configuration } from '../config/load.js';

/** Why `configuration` cannot run on `workers` processes, one line per reason; empty when it can. */
export function clusterRefusals(configuration: Configuration): string[] {
  const { core, tunnels } = configuration.setup;
  if (core.workers <= 1) return [];
  const prefix = `[core] workers = ${core.workers}`;
  const reasons: string[] = [];
  if (tunnels.server !== null) reasons.push(`${prefix}: the [tunnel] server's identities and -R listeners would be held by one worker each; run it with workers = 1`);
  if (tunnels.upstreams.length > 0) reasons.push(`${prefix}: every worker would connect [upstream ${tunnels.upstreams[0]?.label ?? ''}] with the same identity; run it with workers = 1`);
  return reasons;
}
