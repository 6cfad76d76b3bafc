/*
 * The byte and message counts of every bridge an observer has heard of, as one running total:
 * the open bridges' plain fields read now, plus what the closed ones counted, added up once at
 * their close. The data path keeps bumping its own fields; nothing here runs per frame.
 * The metrics keep one per endpoint, the status page's history one for the whole process.
 */
import { noCounts, type BridgeCounts, type BridgeObserver } from './bridge-observer.js';
import { LiveSet } from '../lib/live-set.js';

export class BridgeTally {
  readonly open = new LiveSet<BridgeCounts>();
  private readonly closedCounts = noCounts();

  opened(bridge: BridgeCounts): void {
    this.open.add(bridge);
  }

  /** False for a bridge it never saw open (counted already, or opened before it listened). */
  closed(bridge: BridgeCounts): boolean {
    if (!this.open.delete(bridge)) return false;
    const totals = this.closedCounts;
    totals.bytesToPeer += bridge.bytesToPeer;
    totals.bytesToClient += bridge.bytesToClient;
    totals.messagesToPeer += bridge.messagesToPeer;
    totals.messagesToClient += bridge.messagesToClient;
    return true;
  }

  /** Everything counted so far: the closed bridges' totals and the open ones' running counts. */
  counts(): BridgeCounts {
    let { bytesToPeer, bytesToClient, messagesToPeer, messagesToClient } = this.closedCounts;
    for (const bridge of this.open) {
      bytesToPeer += bridge.bytesToPeer;
      bytesToClient += bridge.bytesToClient;
      messagesToPeer += bridge.messagesToPeer;
      messagesToClient += bridge.messagesToClient;
    }
    return { bytesToPeer, bytesToClient, messagesToPeer, messagesToClient };
  }

  /** An observer that only counts into this tally, whatever the endpoint. */
  observer(): BridgeObserver {
    return {
      opened: (bridge) => this.opened(bridge),
      closed: (bridge) => void this.closed(bridge),
      framingFailed: () => undefined,
      pluginFailed: () => undefined,
      peerConnected: () => undefined,
    };
  }
}
