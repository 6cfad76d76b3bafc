/*
 * The JSON of `[status] path/history`: what the server's sampler (metrics/status-history.ts)
 * writes and the page's charts read. Types only, shared by both programs (a declaration file:
 * nothing of it is emitted or loaded).
 */

/** One array per series, oldest first, all of one length. */
export interface HistoryJson {
  readonly intervalSeconds: number;
  /** Unix time of each sample, in seconds. */
  readonly time: number[];
  /** WebSocket connections open: bridged, and those of websocket and module routes. */
  readonly connections: number[];
  /** Tunnel sessions, of this instance's tunnel server and of its upstreams. */
  readonly tunnelSessions: number[];
  readonly tunnelStreams: number[];
  /** Resumable sessions, attached or not. */
  readonly sessions: number[];
  readonly bytesToClientPerSecond: number[];
  readonly bytesToPeerPerSecond: number[];
}
