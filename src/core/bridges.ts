/*
 * The bridges of one listener: counted for the log, closed together at shutdown, and kept
 * alive by one shared timer rather than a timer per connection. Every `ping` seconds, a client
 * heard from since the last sweep is fine; one that was not gets a ping; one that did not
 * answer the previous ping is dropped.
 */
import type { Bridge } from './bridge.js';
import { processOwner, runGuarded } from '../lib/guard.js';

const sweeper = processOwner('keep-alive');

export class BridgeSet {
  private readonly bridges = new Set<Bridge>();
  private timer: NodeJS.Timeout | null = null;

  get size(): number {
    return this.bridges.size;
  }

  add(bridge: Bridge): void {
    this.bridges.add(bridge);
  }

  delete(bridge: Bridge): void {
    this.bridges.delete(bridge);
  }

  /** Starts the keep-alive sweep; 0 seconds = off. */
  keepAlive(seconds: number): void {
    if (seconds === 0 || this.timer !== null) return;
    this.timer = setInterval(() => runGuarded(sweeper, 'keep-alive sweep', () => this.sweep(seconds)), seconds * 1000);
  }

  private sweep(seconds: number): void {
    for (const bridge of this.bridges) {
      runGuarded(bridge, 'keep-alive', () => {
        if (bridge.heard) {
          bridge.heard = false;
          bridge.awaitingPong = false;
        } else if (bridge.awaitingPong) {
          bridge.terminate(`no answer to ping within ${seconds} s`);
        } else {
          bridge.awaitingPong = true;
          bridge.ping();
        }
      });
    }
  }

  /** Stops the sweep and closes every client with `code`; peers are then finished as usual. */
  closeAll(code: number, reason: string): void {
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
    for (const bridge of [...this.bridges]) runGuarded(bridge, 'shutdown', () => bridge.close(code, reason));
  }
}
