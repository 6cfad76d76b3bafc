/*
 * Where a server's listeners bind. A server of its own binds the configuration's ports, each
 * checked free first (listen.ts: uSockets binds with SO_REUSEPORT and would share a port with
 * another program without a word). The workers of a cluster (docs/cluster.md) share ports on
 * purpose: the primary checked them free, or chose one for each port 0 (uSockets shares only a
 * port named at bind time), and every worker binds those.
 */

/** One port per listener: the main one, each route listener in file order, the status listener. */
export interface ListenPorts {
  readonly main: number;
  readonly extra: readonly number[];
  readonly status: number | null;
}

export interface ListenPlan {
  /** The ports to bind instead of the configuration's, or null. */
  readonly ports: ListenPorts | null;
  /** Bind next to the sockets of the same cluster: no check that the port is free. */
  readonly shared: boolean;
}

export const OWN_PORTS: ListenPlan = { ports: null, shared: false };

/** A TCP port another process named: a whole number from 1 to 65535. */
export function isPortNumber(value: unknown): value is number {
  return typeof value === 'number' && Number.isInteger(value) && value >= 1 && value <= 65535;
}

/** ListenPorts from what another process sent; throws naming what is wrong. */
export function listenPortsOf(value: unknown): ListenPorts {
  const port = (candidate: unknown): number => {
    if (!isPortNumber(candidate)) throw new Error(`listen ports: ${JSON.stringify(candidate)} is not a port`);
    return candidate;
  };
  if (typeof value !== 'object' || value === null) throw new Error('listen ports: not an object');
  const { main, extra, status } = value as Record<string, unknown>;
  if (!Array.isArray(extra)) throw new Error('listen ports: extra is not a list');
  return { main: port(main), extra: extra.map(port), status: status === null ? null : port(status) };
}
