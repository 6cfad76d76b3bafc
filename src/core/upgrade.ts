/*
 * One WebSocket upgrade request on its way to becoming a bridge: ask the backend for a peer,
 * connect it, and only then answer 101 — or answer with an HTTP error saying why not.
 * Everything after the first await runs while other connections go on; a client that leaves
 * meanwhile (onAborted) gets its peer closed as soon as it is known.
 */
import type { HttpResponse, us_socket_context_t } from 'uWebSockets.js';
import type { Backend, FramingDefinition, PeerInfo, PeerQuery } from './api.js';
import type { BridgeData } from './bridge.js';
import { errorMessage } from './errors.js';
import { log } from './log.js';
import { parsePeerAddress, PeerAddressError, type PeerAddress } from './peer-address.js';
import { connectPeer, PeerConnectError, type PeerConnection } from './peer.js';

/** An HTTP answer to a failed upgrade; `detail` goes to the log only. */
export class UpgradeRefusal extends Error {
  constructor(
    readonly status: string,
    readonly body: string,
    readonly detail: string,
  ) {
    super(detail);
    this.name = 'UpgradeRefusal';
  }
}

export interface UpgradeContext {
  readonly backend: Backend;
  readonly framing: (name: string) => FramingDefinition | undefined;
  readonly connectTimeoutMs: number;
  /** Builds the bridge user data once the peer is connected. */
  readonly createBridge: (query: PeerQuery, peer: PeerConnection, framing: FramingDefinition, info: PeerInfo) => BridgeData;
}

export interface UpgradeRequest {
  readonly query: PeerQuery;
  readonly key: string;
  readonly extensions: string;
  readonly socketContext: us_socket_context_t;
}

/** Sends a short plain-text HTTP answer and closes the connection. */
export function refuse(res: HttpResponse, status: string, body: string, headers: Readonly<Record<string, string>> = {}): void {
  res.cork(() => {
    res.writeStatus(status);
    for (const [name, value] of Object.entries(headers)) res.writeHeader(name, value);
    res.writeHeader('Content-Type', 'text/plain; charset=utf-8');
    res.end(body + '\n', true);
  });
}

function resolveAddress(info: PeerInfo): PeerAddress {
  try {
    const parsed = parsePeerAddress(info.host, info.port);
    if (parsed.guessedTransport) log.warn('peer address has no scheme, guessing tcp', { peer: info.host });
    return parsed.address;
  } catch (error) {
    if (error instanceof PeerAddressError) throw new UpgradeRefusal('502 Bad Gateway', 'Bad peer address', error.message);
    throw error;
  }
}

export class PendingUpgrade {
  private aborted = false;
  private settled = false;
  private peer: PeerConnection | null = null;
  private chosenProtocol = '';

  constructor(
    private readonly res: HttpResponse,
    private readonly request: UpgradeRequest,
    private readonly context: UpgradeContext,
    private readonly onSettled: (pending: PendingUpgrade) => void,
  ) {
    // uWS keeps this handler as long as the connection lives, upgraded or not: let it hold only
    // a small link that is cut once the upgrade is settled, not the request and its headers.
    const link: { pending: PendingUpgrade | null } = { pending: this };
    this.unlink = () => {
      link.pending = null;
    };
    res.onAborted(() => link.pending?.abort());
  }

  private readonly unlink: () => void;

  private abort(): void {
    this.aborted = true;
    this.peer?.destroy();
    this.finish();
    const { query } = this.request;
    log.info('client left during handshake', { id: query.connectionId, client: query.clientAddress });
  }

  async run(): Promise<void> {
    try {
      const bridgeData = await this.prepare();
      if (bridgeData === null) return;
      const { key, extensions, socketContext } = this.request;
      const protocol = this.chosenProtocol;
      this.finish();
      // Not inside res.cork(): uWS 20.30 uncorks the HTTP socket after the callback, but upgrade()
      // has just adopted that socket into the WebSocket context, and the uncork then sometimes
      // shuts the new WebSocket down right after its 101 (close 1006, depending on heap layout).
      this.res.upgrade(bridgeData, key, protocol, extensions, socketContext);
    } catch (error) {
      this.peer?.destroy();
      const refusal =
        error instanceof UpgradeRefusal
          ? error
          : new UpgradeRefusal('500 Internal Server Error', 'Internal error', `backend failed: ${errorMessage(error)}`);
      this.answer(refusal);
    }
  }

  /** Refuses the upgrade unless it has been answered already (used at shutdown). */
  answer(refusal: UpgradeRefusal): void {
    if (this.aborted || this.settled) return;
    const q = this.request.query;
    log.info('refused', { id: q.connectionId, client: q.clientAddress, endpoint: q.endpoint, status: refusal.status, why: refusal.detail });
    this.finish();
    refuse(this.res, refusal.status, refusal.body);
  }

  /** Everything up to a connected peer; null when the client left or the request was answered. */
  private async prepare(): Promise<BridgeData | null> {
    const { query } = this.request;
    const info = await this.context.backend.query(query);
    if (this.aborted || this.settled) return null;
    if (info === null) throw new UpgradeRefusal('404 Not Found', 'No peer for this endpoint', 'backend found no peer');
    const address = resolveAddress(info);
    const framingName = info.framing ?? 'auto';
    const framing = this.context.framing(framingName);
    if (framing === undefined) {
      throw new UpgradeRefusal('502 Bad Gateway', 'Bad peer configuration', `backend chose unknown framing "${framingName}"`);
    }
    if (info.protocol !== undefined) {
      const protocol = query.protocols[info.protocol];
      if (protocol === undefined) {
        throw new UpgradeRefusal('502 Bad Gateway', 'Bad peer configuration', `backend chose protocol index ${info.protocol} of ${query.protocols.length} offered`);
      }
      this.chosenProtocol = protocol;
    }
    let peer: PeerConnection;
    try {
      peer = await connectPeer(address, this.context.connectTimeoutMs);
    } catch (error) {
      if (!(error instanceof PeerConnectError)) throw error;
      throw error.timedOut
        ? new UpgradeRefusal('504 Gateway Timeout', 'Peer did not answer', error.message)
        : new UpgradeRefusal('502 Bad Gateway', 'Peer unreachable', error.message);
    }
    if (this.aborted || this.settled) {
      peer.destroy();
      return null;
    }
    this.peer = peer;
    return this.context.createBridge(query, peer, framing, info);
  }

  private finish(): void {
    if (this.settled) return;
    this.settled = true;
    this.unlink();
    this.onSettled(this);
  }
}
