/*
 * The tunnels in metrics, read from the tunnel server's sessions and the upstream clients
 * (tunnel-sessions.ts) when scraped: sessions and their streams, what the streams hold for a
 * replay, resumes and reconnects.
 */
import type { Registry } from 'prom-client';
import type { Session } from '../tunnel/mux.js';
import type { Tunnels } from '../tunnel/runtime.js';
import { scrapedCounter, scrapedGauge, type Reading } from './scraped.js';
import { sessionsOf, type TunnelSession } from './tunnel-sessions.js';

/** Adds `value` under `labels` (a few sessions share one label set). */
function tally(readings: Map<string, [string[], number]>, labels: string[], value: number): void {
  const key = labels.join('\0');
  const reading = readings.get(key);
  if (reading === undefined) readings.set(key, [labels, value]);
  else reading[1] += value;
}

function byLabels(tunnels: Tunnels, labelsOf: (one: TunnelSession) => string[], valueOf: (session: Session) => number): () => Reading[] {
  return () => {
    const readings = new Map<string, [string[], number]>();
    for (const one of sessionsOf(tunnels)) tally(readings, labelsOf(one), valueOf(one.session));
    return [...readings.values()];
  };
}

function unacknowledged(session: Session): number {
  let units = 0;
  for (const stream of session.streams.values()) units += stream.unacknowledged;
  return units;
}

export function watchTunnels(registry: Registry, tunnels: Tunnels): void {
  scrapedGauge({
    registry, name: 'websocksy_tunnel_sessions', help: 'Tunnel sessions, attached to a connection or waiting in their grace period', labelNames: ['role', 'identity', 'state'],
    read: byLabels(tunnels, ({ role, identity, session }) => [role, identity, session.attached ? 'attached' : 'detached'], () => 1),
  });
  scrapedGauge({
    registry, name: 'websocksy_tunnel_streams', help: 'Streams open in tunnel sessions', labelNames: ['role', 'identity'],
    read: byLabels(tunnels, ({ role, identity }) => [role, identity], (session) => session.streams.size),
  });
  scrapedGauge({
    registry, name: 'websocksy_tunnel_replay_bytes', help: 'Bytes tunnel streams sent and keep until acknowledged, for a resume', labelNames: ['role'],
    read: byLabels(tunnels, ({ role }) => [role], unacknowledged),
  });
  scrapedCounter({
    registry, name: 'websocksy_tunnel_resumes_total', help: 'Tunnel sessions taken up again by a new connection', labelNames: ['role'],
    read: () => [
      ...(tunnels.server === null ? [] : [[['server'], tunnels.server.resumes] as const]),
      ...(tunnels.clients.length === 0 ? [] : [[['client'], tunnels.clients.reduce((sum, client) => sum + client.resumes, 0)] as const]),
    ],
  });
  scrapedCounter({
    registry, name: 'websocksy_tunnel_reconnects_total', help: 'Connections of a tunnel client (upstream) lost or failed, each followed by a new attempt', labelNames: ['upstream'],
    read: () => tunnels.clients.map((client) => [[client.config.label], client.reconnects] as const),
  });
}
