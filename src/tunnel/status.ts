/*
 * The status endpoint (`[status] path`): tunnels, identities, streams, bytes and reconnects as
 * JSON, on the bridge's port. Off unless configured. Byte counts are totals over the session:
 * streams that ended plus those still open.
 */
import type { TunnelClient } from './client.js';
import type { Session } from './mux.js';
import type { TunnelServer } from './server.js';

/** A tunnel session is shown by its id's first characters: enough to tell it apart, of no use for a resume. */
export const SHOWN_SESSION_LENGTH = 8;

function streamsOf(session: Session): object[] {
  return [...session.streams.values()].map((stream) => ({
    id: stream.id,
    target: stream.description,
    state: stream.state,
    openedHere: stream.openedHere,
    bytesIn: stream.bytesIn,
    bytesOut: stream.bytesOut,
    since: new Date(stream.createdAt).toISOString(),
  }));
}

function totals(session: Session): { bytesIn: number; bytesOut: number } {
  let bytesIn = session.counters.bytesIn;
  let bytesOut = session.counters.bytesOut;
  for (const stream of session.streams.values()) {
    bytesIn += stream.bytesIn;
    bytesOut += stream.bytesOut;
  }
  return { bytesIn, bytesOut };
}

export function tunnelStatus(server: TunnelServer | null, clients: readonly TunnelClient[]): object {
  return {
    time: new Date().toISOString(),
    server:
      server === null
        ? null
        : {
            path: server.config.path,
            graceSeconds: server.config.graceSeconds,
            sessions: [...server.sessions.values()].map((owner) => ({
              session: owner.id.slice(0, SHOWN_SESSION_LENGTH),
              identity: owner.identity,
              client: owner.clientAddress,
              state: owner.transport === null ? 'detached' : 'attached',
              since: owner.createdAt.toISOString(),
              detachedSince: owner.detachedAt === null ? null : new Date(owner.detachedAt).toISOString(),
              resumes: owner.session.counters.resumes,
              streamsOpened: owner.session.counters.streamsOpened,
              streamsFailed: owner.session.counters.streamsFailed,
              ...totals(owner.session),
              listeners: server.listeners.addressesOf(owner),
              streams: streamsOf(owner.session),
            })),
            mirrored: server.mirroredStatus(),
          },
    upstreams: clients.map((client) => {
      const session = client.currentSession;
      return {
        name: client.config.label,
        url: client.config.url,
        identity: client.config.name,
        state: client.state,
        connectedSince: client.connectedSince?.toISOString() ?? null,
        reconnects: client.reconnects,
        lastError: client.lastError,
        forwards: client.config.forwards.map((forward) => ({ ...forward })),
        ...(session === null
          ? { streams: [] }
          : { resumes: session.counters.resumes, streamsOpened: session.counters.streamsOpened, streamsFailed: session.counters.streamsFailed, ...totals(session), streams: streamsOf(session) }),
      };
    }),
  };
}
