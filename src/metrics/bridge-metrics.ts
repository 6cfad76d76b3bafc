/*
 * The bridged connections in metrics, by endpoint ('bridge', or 'route /prefix' for a peer
 * route): opened, open, closed by code, bytes and messages each way, peer connect times,
 * framing and plugin errors. Opens and closes go to prom-client through children made once per
 * endpoint and label value; bytes and messages are the bridges' own plain counts, read at scrape
 * time: those of the open bridges, plus what the closed ones counted, added up at their close.
 */
import { Counter, Histogram, type Registry } from 'prom-client';
import type { BridgeCounts, BridgeObserver, BridgeObservers } from '../core/bridge-observer.js';
import { BridgeTally } from '../core/bridge-tally.js';
import { childFor, closeCodeLabel } from './labels.js';
import { scrapedCounter, scrapedGauge, type Reading } from './scraped.js';

/** Peer connects take a loopback millisecond or a WAN second; the connect timeout caps them. */
const CONNECT_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

interface Instruments {
  readonly total: Counter;
  readonly closes: Counter;
  readonly framingErrors: Counter;
  readonly pluginErrors: Counter;
  readonly connect: Histogram;
}

class EndpointBridges implements BridgeObserver {
  readonly tally = new BridgeTally();
  private readonly totalByIdentity = new Map<string, Counter.Internal>();
  private readonly closesByCode = new Map<string, Counter.Internal>();
  private readonly framingErrors: Counter.Internal;
  private readonly pluginErrors: Counter.Internal;
  private readonly connect: Histogram.Internal<string>;

  constructor(
    readonly endpoint: string,
    readonly backend: string,
    private readonly instruments: Instruments,
  ) {
    this.framingErrors = instruments.framingErrors.labels(endpoint);
    this.pluginErrors = instruments.pluginErrors.labels(endpoint);
    // At 0 from the start, so that an alert on their increase has a series to watch.
    this.framingErrors.inc(0);
    this.pluginErrors.inc(0);
    this.connect = instruments.connect.labels(endpoint);
  }

  opened(bridge: BridgeCounts, identity: string): void {
    this.tally.opened(bridge);
    childFor(this.totalByIdentity, identity, (value) => this.instruments.total.labels(this.endpoint, this.backend, value)).inc();
  }

  closed(bridge: BridgeCounts, code: number): void {
    if (!this.tally.closed(bridge)) return;
    childFor(this.closesByCode, closeCodeLabel(code), (value) => this.instruments.closes.labels(this.endpoint, value)).inc();
  }

  framingFailed(): void {
    this.framingErrors.inc();
  }

  pluginFailed(): void {
    this.pluginErrors.inc();
  }

  peerConnected(seconds: number): void {
    this.connect.observe(seconds);
  }
}

export class BridgeMetrics implements BridgeObservers {
  /** By endpoint name: two listeners' routes with one prefix count as one endpoint. */
  private readonly endpoints = new Map<string, EndpointBridges>();
  private readonly instruments: Instruments;

  constructor(registry: Registry) {
    const registers = [registry];
    this.instruments = {
      total: new Counter({ name: 'websocksy_connections_total', help: 'Bridged WebSocket connections opened (after the 101)', labelNames: ['endpoint', 'backend', 'identity'], registers }),
      closes: new Counter({ name: 'websocksy_closes_total', help: 'Bridged connections closed, by WebSocket close code', labelNames: ['endpoint', 'code'], registers }),
      framingErrors: new Counter({ name: 'websocksy_framing_errors_total', help: "Bridged connections closed because the framing could not frame the peer's stream", labelNames: ['endpoint'], registers }),
      pluginErrors: new Counter({ name: 'websocksy_plugin_errors_total', help: 'Throws and rejections of plugin code (framing functions, backends)', labelNames: ['endpoint'], registers }),
      connect: new Histogram({ name: 'websocksy_peer_connect_seconds', help: 'Time a peer took to accept the connection', labelNames: ['endpoint'], buckets: CONNECT_BUCKETS, registers }),
    };
    const each = (read: (bridges: EndpointBridges) => Reading[]) => (): Reading[] => [...this.endpoints.values()].flatMap(read);
    const eachWay = (read: (counts: BridgeCounts) => readonly [toPeer: number, toClient: number]) =>
      each((bridges) => {
        const [toPeer, toClient] = read(bridges.tally.counts());
        return [[[bridges.endpoint, 'client_to_peer'], toPeer], [[bridges.endpoint, 'peer_to_client'], toClient]];
      });
    scrapedGauge({
      registry, name: 'websocksy_connections_open', help: 'Bridged WebSocket connections open now', labelNames: ['endpoint', 'backend'],
      read: each((bridges) => [[[bridges.endpoint, bridges.backend], bridges.tally.open.size]]),
    });
    scrapedCounter({
      registry, name: 'websocksy_bytes_total', help: 'Payload bytes carried by bridged connections', labelNames: ['endpoint', 'direction'],
      read: eachWay((counts) => [counts.bytesToPeer, counts.bytesToClient]),
    });
    scrapedCounter({
      registry, name: 'websocksy_messages_total', help: 'WebSocket messages carried by bridged connections (client to peer: received; peer to client: framed and sent)', labelNames: ['endpoint', 'direction'],
      read: eachWay((counts) => [counts.messagesToPeer, counts.messagesToClient]),
    });
  }

  forEndpoint(endpoint: string, backend: string): BridgeObserver {
    return childFor(this.endpoints, endpoint, () => new EndpointBridges(endpoint, backend, this.instruments));
  }
}
