/*
 * The idle keep-alive connections this test process holds to a websocksy it stops. SIGINT
 * closes websocksy's listeners and clients at once, but an idle keep-alive HTTP connection stays
 * open until its client closes it (uWS would close it after 10 s), and the process lives until
 * then or until its exit deadline (the peer linger and a second, 6 s): fetch's pool closes its
 * idle connections after 4 s, a keep-alive node:http agent after 5 s or never. A client would
 * close them once its server has gone; closing them as the stop begins makes that take
 * milliseconds instead, and changes nothing a test sees before it stops the server.
 */
import { type Agent, globalAgent } from 'node:http';
import { globalAgent as httpsGlobalAgent } from 'node:https';

const agents = new Set<Agent>([globalAgent, httpsGlobalAgent]);

/** A keep-alive agent whose idle connections stop() should close as well. */
export function idleConnectionsOf<T extends Agent>(agent: T): T {
  agents.add(agent);
  return agent;
}

/** undici's global dispatcher, Node's own fetch's: the symbols undici shares it under. */
const FETCH_DISPATCHERS = [Symbol.for('undici.globalDispatcher.1'), Symbol.for('undici.globalDispatcher.2')];

interface Dispatcher {
  close(): Promise<void>;
}

/**
 * Closes the idle connections to `ports` of the agents above, and every idle connection of
 * fetch: its pool has no way to close one origin's, so fetch moves to a fresh dispatcher of the
 * same kind and the old one closes (after the requests still running on it, if any).
 */
export function closeIdleConnections(ports: readonly number[]): void {
  for (const agent of agents) {
    for (const sockets of Object.values(agent.freeSockets)) {
      for (const socket of sockets ?? []) if (ports.includes(socket.remotePort ?? -1)) socket.destroy();
    }
  }
  const holder = globalThis as unknown as Record<symbol, Dispatcher | undefined>;
  const held = new Set(FETCH_DISPATCHERS.map((symbol) => holder[symbol]).filter((value) => value !== undefined));
  // One dispatcher under each name (undici 6 and 7): another arrangement is left as it is, and
  // its idle connections close by themselves.
  const [current] = held;
  if (held.size !== 1 || current === undefined || typeof current.close !== 'function') return;
  let fresh: Dispatcher;
  try {
    fresh = new (current.constructor as new () => Dispatcher)();
  } catch {
    return;
  }
  for (const symbol of FETCH_DISPATCHERS) if (holder[symbol] === current) holder[symbol] = fresh;
  current.close().catch(() => undefined);
}
