/*
 * The remote listeners of identities owned on other hosts, bound on this one too
 * (docs/cluster.md, "Remote listeners on every instance"). A load balancer may send a
 * listener's connection to any instance of a cluster across hosts, so every instance binds
 * what each owner elsewhere bound, as the registry says, and carries each connection it
 * accepts to the owner's link (listener-relay.ts). A host binds an address once: only the
 * first worker of an instance mirrors, and nothing its own instance owns (that listener is
 * this host's already). An owner about to bind an address this process mirrors takes it over.
 */
import { createServer, type Server, type Socket } from 'node:net';
import { LINK_HEADER } from '../cluster/link.js';
import { instanceOf, nodeName, workerOf, type ListenerSet } from '../cluster/registry.js';
import type { Siblings } from '../cluster/siblings.js';
import { errorMessage } from '../lib/errors.js';
import { processOwner, runGuarded, type Guarded } from '../lib/guard.js';
import { log } from '../lib/log.js';
import { resetConnection } from '../lib/reset-connection.js';
import { closeReason } from '../lib/text.js';
import { DEFAULT_UPSTREAM_TLS } from '../lib/tls-upstream.js';
import { ABNORMAL_CLOSURE, DROPPED, WebSocketClient, type WebSocketEnd } from '../lib/websocket-client.js';
import { LISTENER_RELAY_SUBPROTOCOL, ListenerRelay, MAX_RELAY_MESSAGE, type RelayCarrier } from './listener-relay.js';

/** How long the owner's link may take to accept a relayed connection. */
const RELAY_HANDSHAKE_MS = 5_000;

const syncOwner = processOwner('mirrored listeners');

interface Mirror {
  readonly server: Server;
  identity: string;
  /** The bind failed (the address is taken here): retried at each change of the map, said once. */
  failed: boolean;
}

export class MirroredListeners {
  private readonly mirrors = new Map<string, Mirror>();
  /** Connections on their way to an owner: reset at shutdown. */
  private readonly relays = new Set<{ readonly socket: Socket; readonly upstream: WebSocketClient }>();
  private stopped = false;

  /** `tunnelPath`: the owner's tunnel endpoint, which takes the relayed connections on its link. */
  constructor(
    private readonly siblings: Siblings,
    private readonly tunnelPath: string,
  ) {
    siblings.registry.onListeners((sets) => runGuarded(syncOwner, 'mirror listeners', () => this.sync(sets)));
  }

  /** Binds what the map asks of this node, closes what it no longer does. */
  private sync(sets: ReadonlyMap<string, ListenerSet>): void {
    if (this.stopped) return;
    const { self } = this.siblings;
    const wanted = new Map<string, string>();
    if (workerOf(self) <= 1) {
      for (const [identity, set] of sets) {
        const owner = this.siblings.ownerOf(identity) ?? set.node;
        if (instanceOf(owner) === instanceOf(self) || instanceOf(set.node) === instanceOf(self)) continue;
        for (const address of set.addresses) wanted.set(address, identity);
      }
    }
    for (const [address, mirror] of this.mirrors) {
      const identity = wanted.get(address);
      if (identity === undefined) this.close(address, mirror, 'its owner let it go');
      else mirror.identity = identity;
    }
    for (const [address, identity] of wanted) {
      const mirror = this.mirrors.get(address);
      if (mirror === undefined) this.bind(address, identity);
      else if (mirror.failed) this.listen(address, mirror);
    }
  }

  private bind(address: string, identity: string): void {
    const server = createServer({ allowHalfOpen: true, pauseOnConnect: true });
    const mirror: Mirror = { server, identity, failed: false };
    this.mirrors.set(address, mirror);
    server.on('connection', (socket: Socket) => runGuarded(connectionOwner(socket, address, mirror.identity), 'mirrored listener connection', () => this.accepted(address, mirror, socket)));
    server.on('listening', () => runGuarded(syncOwner, 'mirrored listener bound', () => {
      mirror.failed = false;
      log.info('remote listener mirrored', { address, identity: mirror.identity });
    }));
    server.on('error', (error: NodeJS.ErrnoException) => runGuarded(syncOwner, 'mirrored listener error', () => {
      if (!mirror.failed) log.warn('remote listener not mirrored', { address, identity: mirror.identity, error: error.code ?? error.message, note: 'tried again when the cluster map changes' });
      mirror.failed = true;
      server.close();
    }));
    this.listen(address, mirror);
  }

  private listen(address: string, mirror: Mirror): void {
    const split = address.lastIndexOf(':');
    mirror.server.listen({ host: address.slice(0, split), port: Number(address.slice(split + 1)), exclusive: true });
  }

  private close(address: string, mirror: Mirror, why: string): void {
    this.mirrors.delete(address);
    mirror.server.close();
    if (!mirror.failed) log.info('mirrored remote listener closed', { address, identity: mirror.identity, why });
  }

  /** This node's own session is about to bind `address`: a mirror of it here lets go first. */
  yieldAddress(address: string): void {
    const mirror = this.mirrors.get(address);
    if (mirror !== undefined) this.close(address, mirror, 'its identity is served here now');
  }

  private accepted(address: string, mirror: Mirror, socket: Socket): void {
    socket.setNoDelay(true);
    const client = `${socket.remoteAddress ?? '?'}:${socket.remotePort ?? 0}`;
    const owner = this.siblings.ownerOf(mirror.identity);
    const link = owner === null ? null : this.siblings.linkOf(owner);
    if (owner === null || link === null) {
      log.warn('mirrored listener connection reset', { address, identity: mirror.identity, client, why: 'the node that owns the identity is not known now' });
      resetConnection(socket);
      return;
    }
    const url = new URL(this.tunnelPath, link);
    url.protocol = 'ws:';
    url.searchParams.set('listener', address);
    const fields = { address, identity: mirror.identity, client, to: nodeName(owner) };
    let relay: ListenerRelay | null = null;
    const reset = (reason: string): void => {
      if (relay !== null) relay.reset(reason);
      else {
        forget();
        upstream.terminate();
        resetConnection(socket);
      }
    };
    const guard: Guarded = { logFields: fields, abortAfterFault: (reason) => reset(reason) };
    const upstream = new WebSocketClient(
      {
        url,
        protocols: [LISTENER_RELAY_SUBPROTOCOL],
        headers: { [LINK_HEADER]: this.siblings.secret, 'x-forwarded-for': socket.remoteAddress ?? '' },
        handshakeTimeoutMs: RELAY_HANDSHAKE_MS,
        maxPayload: MAX_RELAY_MESSAGE,
        tls: DEFAULT_UPSTREAM_TLS,
      },
      {
        ...guard,
        opened: () => {
          socket.off('close', leftEarly);
          socket.off('error', failedEarly);
          relay = new ListenerRelay(socket, carrier, guard);
          socket.resume();
          log.debug('mirrored listener connection relayed', fields);
        },
        message: (data, binary, owned) => relay?.fromCarrier(data, binary, owned),
        unexpectedResponse: (status) => {
          log.warn('mirrored listener connection reset', { ...fields, why: `the owner answered HTTP ${status}` });
          reset('refused by the owner');
        },
        closed: (end: WebSocketEnd) => {
          forget();
          if (end.code === ABNORMAL_CLOSURE && end.why !== DROPPED) log.warn('mirrored listener connection reset', { ...fields, why: `the owner's link failed: ${end.why}` });
          if (relay !== null) relay.carrierClosedWith(end.code);
          else resetConnection(socket);
        },
      },
    );
    const entry = { socket, upstream };
    this.relays.add(entry);
    const forget = (): void => void this.relays.delete(entry);
    const carrier: RelayCarrier = {
      sendBinary: (chunk) => upstream.send(chunk, true),
      sendText: (text) => upstream.send(Buffer.from(text, 'latin1'), false),
      close: (code, reason) => upstream.close(code, closeReason(reason)),
    };
    // Before the owner answers, a client that leaves ends the attempt.
    const leftEarly = (): void =>
      runGuarded(guard, 'mirrored connection closed early', () => {
        forget();
        upstream.terminate();
      });
    const failedEarly = (error: Error): void => log.debug('mirrored listener connection failed before its relay opened', { ...fields, error: errorMessage(error) });
    socket.once('close', leftEarly);
    socket.on('error', failedEarly);
  }

  /** Draining: the mirrors close (connections relayed go on) and none binds again. */
  stopAll(): void {
    this.stopped = true;
    for (const [address, mirror] of this.mirrors) this.close(address, mirror, 'server shutting down');
  }

  /** Shutdown: what is still relayed is reset. */
  shutdown(): void {
    this.stopAll();
    for (const { socket, upstream } of this.relays) {
      upstream.terminate();
      resetConnection(socket);
    }
  }

  /** For the status JSON: the addresses mirrored here, and whose. */
  status(): Record<string, string> {
    return Object.fromEntries([...this.mirrors].filter(([, mirror]) => !mirror.failed).map(([address, mirror]) => [address, mirror.identity]));
  }
}

function connectionOwner(socket: Socket, address: string, identity: string): Guarded {
  return { logFields: { address, identity }, abortAfterFault: () => resetConnection(socket) };
}
