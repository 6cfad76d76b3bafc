/*
 * The tunnel sessions of both roles, as the metrics (tunnel-metrics.ts) and the status page's
 * history read them. A server session is labelled with its identity, which the identities file
 * lists; in protected mode a client names itself, so its identity is left out (''). Nothing
 * here needs prom-client, which a server without metrics never loads (start-up time).
 */
import type { Session } from '../tunnel/mux.js';
import type { Tunnels } from '../tunnel/runtime.js';

type Role = 'server' | 'client';

export interface TunnelSession {
  readonly role: Role;
  readonly identity: string;
  readonly session: Session;
}

export function sessionsOf(tunnels: Tunnels): TunnelSession[] {
  const found: TunnelSession[] = [];
  const server = tunnels.server;
  if (server !== null) {
    const named = !server.config.protectedMode;
    for (const owner of server.sessions.values()) found.push({ role: 'server', identity: named ? owner.identity : '', session: owner.session });
  }
  for (const client of tunnels.clients) {
    const session = client.currentSession;
    if (session !== null) found.push({ role: 'client', identity: client.config.label, session });
  }
  return found;
}

/** Tunnel sessions of both roles and the streams open in them, as the status page's history samples them. */
export function tunnelCounts(tunnels: Tunnels): { readonly sessions: number; readonly streams: number } {
  const found = sessionsOf(tunnels);
  return { sessions: found.length, streams: found.reduce((sum, one) => sum + one.session.streams.size, 0) };
}
