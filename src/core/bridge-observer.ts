/*
 * What a bridge tells the metrics (src/metrics/) beyond its log lines: that it opened and
 * closed, and the failures that closed it. Called per connection, never per frame: the byte
 * and message counts stay plain fields of the Bridge (BridgeCounts), which the metrics read
 * when they are scraped and once more at the close.
 */

/** A bridge's running counts: plain numbers the data path bumps, read at scrape time. */
export interface BridgeCounts {
  readonly bytesToPeer: number;
  readonly bytesToClient: number;
  readonly messagesToPeer: number;
  readonly messagesToClient: number;
}

/** Counts kept beside a connection rather than in it (a route module's socket, which module code holds). */
export type RunningCounts = { -readonly [K in keyof BridgeCounts]: number };

export function noCounts(): RunningCounts {
  return { bytesToPeer: 0, bytesToClient: 0, messagesToPeer: 0, messagesToClient: 0 };
}

export interface BridgeObserver {
  /** The 101 went out; `identity` is what the metrics may name it by ('' for nobody, see bridge-endpoint.ts). */
  opened(bridge: BridgeCounts, identity: string): void;
  /** Both sides are done: `bridge`'s counts are final. */
  closed(bridge: BridgeCounts, code: number): void;
  /** The framing function gave up on the peer's stream (a negative return, an oversized frame). */
  framingFailed(): void;
  /** Plugin code (a framing function, a backend) threw or rejected. */
  pluginFailed(): void;
  /** The peer answered its connect after `seconds`. */
  peerConnected(seconds: number): void;
}

/** Hands each bridge endpoint its observer, named by the endpoint and its backend (both from the configuration). */
export interface BridgeObservers {
  forEndpoint(endpoint: string, backend: string): BridgeObserver;
}

const ignored: BridgeObserver = {
  opened: () => undefined,
  closed: () => undefined,
  framingFailed: () => undefined,
  pluginFailed: () => undefined,
  peerConnected: () => undefined,
};

/** For a server without metrics, and for tests that build bridges by hand. */
export const unobserved: BridgeObservers = { forEndpoint: () => ignored };

/** Every one of `all` hears each bridge (the metrics and the status page's history); one alone is itself. */
export function observedByAll(all: readonly BridgeObservers[]): BridgeObservers {
  if (all.length === 0) return unobserved;
  if (all.length === 1) return all[0] as BridgeObservers;
  return {
    forEndpoint: (endpoint, backend) => {
      const each = all.map((observers) => observers.forEndpoint(endpoint, backend));
      return {
        opened: (bridge, identity) => each.forEach((one) => one.opened(bridge, identity)),
        closed: (bridge, code) => each.forEach((one) => one.closed(bridge, code)),
        framingFailed: () => each.forEach((one) => one.framingFailed()),
        pluginFailed: () => each.forEach((one) => one.pluginFailed()),
        peerConnected: (seconds) => each.forEach((one) => one.peerConnected(seconds)),
      };
    },
  };
}

/**
 * The identity a metric may carry for a connection admitted by `auth`: only names the
 * configuration lists (a basic user, a bearer token's name), so that the label's values stay
 * bounded; a JWT's user claim is whatever a token says, so it is never a label. '' for none.
 */
export function identityLabel(auth: { readonly method: string; readonly user: string | null } | undefined): string {
  if (auth === undefined || auth.user === null) return '';
  return auth.method === 'basic' || auth.method === 'bearer' ? auth.user : '';
}
