/* How the nodes of a cluster reach each other's links (docs/cluster.md). */

/** Carries the cluster's secret on a request one node relays to another. */
export const LINK_HEADER = 'websocksy-link';

/** Where one host's workers listen for each other: plain HTTP and WebSocket on loopback. */
export const LINK_HOST = '127.0.0.1';
