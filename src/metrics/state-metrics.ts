/*
 * Counts the server keeps for its own use, read when scraped: the resumable sessions
 * (src/session/), how often each connection limit said no (core/admission.ts), and the
 * internal errors the guard caught (lib/guard.ts).
 */
import type { Registry } from 'prom-client';
import type { Admission } from '../core/admission.js';
import { faultCount } from '../lib/guard.js';
import type { SessionStore } from '../session/session-store.js';
import { scrapedCounter, scrapedGauge } from './scraped.js';

export function watchSessions(registry: Registry, sessions: SessionStore): void {
  scrapedGauge({
    registry, name: 'websocksy_sessions', help: 'Resumable sessions, attached to a client or waiting for one', labelNames: ['state'],
    read: () => {
      const { attached, detached } = sessions.counts();
      return [[['attached'], attached], [['detached'], detached]];
    },
  });
  scrapedCounter({
    registry, name: 'websocksy_session_resumes_total', help: 'Resumable sessions taken up again by a client', labelNames: [],
    read: () => [[[], sessions.counts().resumes]],
  });
  scrapedGauge({
    registry, name: 'websocksy_session_buffered_bytes', help: 'Bytes resumable sessions keep for their clients to replay (what session-buffer bounds)', labelNames: [],
    read: () => [[[], sessions.counts().bufferedBytes]],
  });
}

export function watchLimits(registry: Registry, admission: Admission): void {
  scrapedCounter({
    registry, name: 'websocksy_limits_hit_total', help: 'Connections refused or closed by a limit', labelNames: ['limit'],
    read: () => Object.entries(admission.limitsHit).map(([limit, count]) => [[limit], count] as const),
  });
  scrapedCounter({
    registry, name: 'websocksy_internal_errors_total', help: 'Exceptions caught at the guarded boundary, each closing its one connection', labelNames: [],
    read: () => [[[], faultCount()]],
  });
}
