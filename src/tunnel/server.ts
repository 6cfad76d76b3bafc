/*
 * Accepting tunnels: a WebSocket endpoint on the bridge's own port (`[tunnel] path`), for
 * clients that offer the tunnel subprotocol. The first message must be a hello naming an
 * identity and its token (compared in constant time), within the heartbeat timeout; at most
 * HELLO_WAIT_LIMIT sockets may be waiting for theirs at once. A hello with a session id and
 * secret resumes a detached session; a new session must find room among its identity's
 * (server-sessions.ts).
 *
 * In a cluster (docs/cluster.md: a host's workers, or instances on Redis), all of an identity's
 * sessions live in one node, its owner, which the registry names: a hello that reaches another
 * node is relayed to the owner's link, and a hello for an identity no one owns makes this node
 * claim it. The owner lets go once its last session of the identity ends. Across hosts, every
 * instance also binds the remote listeners owned elsewhere and relays their connections to the
 * owner (mirrored-listeners.ts), which takes them here (listener-relay.ts).
 */
import type { WebSocket } from 'uWebSockets.js';
import { SiblingRelay } from '../cluster/sibling-relay.js';
import { nodeName } from '../cluster/registry.js';
import type { Siblings } from '../cluster/siblings.js';
import { WsCloseCode } from '../core/api.js';
import type { SocketLimits, UpgradeAnswer, WsEndpoint } from '../core/endpoint.js';
import { Refusal, shuttingDownRefusal } from '../core/refusal.js';
import { headerValue, offeredProtocols, type ClientRequest } from '../core/request.js';
import { sendMessage } from '../core/send-policy.js';
import { errorMessage } from '../lib/errors.js';
import { PipeEnd } from '../lib/pipe.js';
import { closeReason } from '../lib/text.js';
import { processOwner, runGuarded, type Guarded } from '../lib/guard.js';
import { log } from '../lib/log.js';
import type { AllowList } from './allow.js';
import { HELD_BEFORE_WELCOME_BYTES, HeldMessages } from './claim-hold.js';
import { HelloWaitList } from './hello-wait.js';
import { LISTENER_RELAY_SUBPROTOCOL, ListenerRelay } from './listener-relay.js';
import { MirroredListeners } from './mirrored-listeners.js';
import type { TunnelServerConfig } from './options.js';
import { readIdentities, type Identity } from './identities.js';
import { protectedModeAllow, protectedModeIdentity } from './protected-mode.js';
import { SEND_BUDGET_BYTES, TRANSPORT_SEND_BOUND } from './mux.js';
import {
  decodeControl, decodeFrame, encodeJson, FEATURE_GOAWAY, FrameType, helloAnnounces, isResumeState, MAX_FRAME, PROTOCOL_VERSION, ProtocolError, TUNNEL_SUBPROTOCOL,
  type ControlMessage,
} from './protocol.js';
import { RemoteListeners } from './remote-listeners.js';
import { digest, randomSecret, sameSecret } from '../lib/secret.js';
import { ServerSession, type ServerSessionContext } from './server-session.js';
import { ServerSessions } from './server-sessions.js';
import { UwsTransport, type TunnelSocketData } from './uws-transport.js';

const TEXT_MESSAGE = 'a text message, where every tunnel frame is binary';

/** Tunnel sockets that may wait for their hello at once; more are refused at the upgrade. */
export const HELLO_WAIT_LIMIT = 64;

const sweeper = processOwner('tunnel sweep');

/** How long a session's bind may wait for another worker of this instance to stop mirroring the address. */
const MIRROR_HANDOVER_MS = 2_000;

export class TunnelServer implements ServerSessionContext, WsEndpoint<TunnelSocketData> {
  readonly name = 'tunnel';
  /** Credit bounds what is queued per session (mux.ts); this keeps uWS from ever dropping a frame. */
  readonly limits: SocketLimits = { maxPayloadLength: MAX_FRAME, maxBackpressure: TRANSPORT_SEND_BOUND };
  private identities: Map<string, Identity>;
  readonly listeners: RemoteListeners;
  /** Other instances' remote listeners, bound here too; null outside a cluster. */
  private readonly mirrors: MirroredListeners | null;
  /** Connections relayed here from other instances' mirrors: reset at shutdown. */
  private readonly listenerRelays = new Set<ListenerRelay>();
  readonly sessions: ServerSessions;
  private readonly awaitingHello = new HelloWaitList<UwsTransport>(HELLO_WAIT_LIMIT);
  /** Sockets whose hello waits for this node's claim on its identity, with what they sent behind it. */
  private readonly claiming = new Map<UwsTransport, HeldMessages>();
  private readonly sweepTimer: NodeJS.Timeout;
  private shuttingDown = false;
  /** Sockets relayed to the node that owns their identity: closed at shutdown with the rest. */
  private readonly relays = new Set<SiblingRelay>();
  /** Sessions taken up again by a new connection, since start-up (the metrics). */
  resumes = 0;

  /** `siblings`: the cluster's other nodes, when this process is one. */
  constructor(
    readonly config: TunnelServerConfig,
    private readonly siblings: Siblings | null = null,
  ) {
    this.identities = config.protectedMode ? new Map() : readIdentities(config.identitiesFile);
    this.mirrors = siblings === null ? null : new MirroredListeners(siblings, config.path);
    this.listeners = new RemoteListeners(
      siblings === null
        ? null
        : {
            beforeBind: (address) => this.mirrors?.yieldAddress(address),
            changed: (identity) => siblings.registry.setListeners(identity, this.listeners.boundOf(identity)),
            busyRetryMs: MIRROR_HANDOVER_MS,
          },
    );
    this.sessions = new ServerSessions(config, this.listeners, (identity) => this.siblings?.release(identity));
    siblings?.registry.onLost((identity) => this.identityLost(identity));
    if (config.protectedMode) log.warn('tunnel server in protected mode: no identities file, so name-only tunnel clients are accepted from loopback addresses only; add identities = FILE to accept other hosts', { path: config.path });
    // Clients ping every heartbeat; a session silent for the timeout has a dead transport.
    this.sweepTimer = setInterval(() => runGuarded(sweeper, 'tunnel sweep', () => this.sweep()), Math.min(1000, config.timeoutMs / 2));
  }

  upgrade(request: ClientRequest, answer: UpgradeAnswer<TunnelSocketData>): void {
    if (this.shuttingDown) {
      answer.refuse(shuttingDownRefusal());
      return;
    }
    const offered = offeredProtocols(request);
    if (offered.includes(LISTENER_RELAY_SUBPROTOCOL)) {
      this.upgradeRelayedListener(request, answer);
      return;
    }
    if (!offered.includes(TUNNEL_SUBPROTOCOL)) {
      answer.refuse(new Refusal('bad-handshake', 400, `Tunnel clients offer the ${TUNNEL_SUBPROTOCOL} subprotocol`, 'no tunnel subprotocol offered (an older websocksy client?)'));
      return;
    }
    if (this.awaitingHello.full) {
      answer.refuse(new Refusal('tunnel-hello-limit', 503, 'Too many tunnel connections waiting to authenticate', `${this.awaitingHello.size} tunnel connections are waiting for their hello (limit ${HELLO_WAIT_LIMIT})`, { 'Retry-After': '1' }));
      return;
    }
    const origin = { path: request.path + request.search, host: headerValue(request, 'host') ?? '', clientAddress: request.clientAddress };
    answer.accept({ id: request.id, client: request.clientAddress, transport: null, origin, fromSibling: request.fromSibling === true, relay: null, relayedListener: null }, TUNNEL_SUBPROTOCOL);
  }

  /** Another instance relays a connection its mirror of one of this node's remote listeners accepted. */
  private upgradeRelayedListener(request: ClientRequest, answer: UpgradeAnswer<TunnelSocketData>): void {
    if (request.fromSibling !== true) {
      answer.refuse(new Refusal('forbidden', 403, 'Forbidden: only the nodes of a websocksy cluster relay listener connections', `${LISTENER_RELAY_SUBPROTOCOL} offered without the cluster's secret`));
      return;
    }
    const address = new URLSearchParams(request.search).get('listener') ?? '';
    if (!this.listeners.hasBound(address)) {
      answer.refuse(new Refusal('not-found', 404, 'No such remote listener here', `no remote listener bound at ${address} on this node`));
      return;
    }
    const origin = { path: request.path + request.search, host: headerValue(request, 'host') ?? '', clientAddress: request.clientAddress };
    answer.accept({ id: request.id, client: request.clientAddress, transport: null, origin, fromSibling: true, relay: null, relayedListener: { address, relay: null } }, LISTENER_RELAY_SUBPROTOCOL);
  }

  open(ws: WebSocket<TunnelSocketData>): void {
    const { relayedListener } = ws.getUserData();
    if (relayedListener !== null) {
      this.openRelayedListener(ws, relayedListener);
      return;
    }
    const transport = new UwsTransport(ws);
    ws.getUserData().transport = transport;
    this.awaitingHello.add(transport);
  }

  /** The relayed connection reaches its session through a pipe, as its own listener's would through a socket. */
  private openRelayedListener(ws: WebSocket<TunnelSocketData>, relayed: { readonly address: string; relay: ListenerRelay | null }): void {
    const { id, client } = ws.getUserData();
    const [here, session] = PipeEnd.pair();
    const carrier = {
      sendBinary: (chunk: Buffer) => void sendMessage(ws, chunk, true),
      sendText: (text: string) => void ws.send(text, false),
      close: (code: number, reason: string) => ws.end(code, closeReason(reason)),
    };
    const owner: Guarded = { logFields: { id, client, listener: relayed.address }, abortAfterFault: (reason) => relayed.relay?.reset(reason) };
    const relay = new ListenerRelay(here, carrier, owner);
    relayed.relay = relay;
    this.listenerRelays.add(relay);
    if (!this.listeners.acceptRelayed(relayed.address, session)) relay.reset(`no remote listener bound at ${relayed.address} on this node now`);
    else log.debug('relayed listener connection', owner.logFields);
  }

  message(ws: WebSocket<TunnelSocketData>, message: ArrayBuffer, isBinary: boolean): void {
    const data = ws.getUserData();
    if (data.relayedListener !== null) {
      data.relayedListener.relay?.fromCarrier(Buffer.from(message), isBinary, false);
      return;
    }
    const { transport } = data;
    if (transport === null) return;
    const owner = this.sessions.ownerOf(transport);
    // Every tunnel frame is binary (docs/tunnel-protocol.md), as the client insists of the server's:
    // a text message is a peer speaking something else, so its transport goes, as for any protocol error.
    // A socket relayed to the identity's owner passes it on as it came, and the owner decides.
    if (!isBinary && data.relay === null) {
      this.textMessage(transport, owner, data.client);
      return;
    }
    if (this.delivered(data, owner, message, isBinary)) return;
    if (this.awaitingHello.delete(transport)) this.onFirstMessage(ws, transport, Buffer.from(message), false);
    else if (this.claiming.get(transport)?.hold(message) === false) {
      this.refuse(transport, data.client, `more than ${HELD_BEFORE_WELCOME_BYTES} bytes sent before the welcome`);
    }
  }

  /** A message goes to the socket's session here, or to its relay to the identity's owner; false when it has neither. */
  private delivered(data: TunnelSocketData, owner: ServerSession | undefined, message: ArrayBuffer, isBinary: boolean): boolean {
    if (owner !== undefined) owner.session.onMessage(Buffer.from(message), false);
    else if (data.relay !== null) data.relay.fromClient(message, isBinary);
    else return false;
    return true;
  }

  /** Messages held while the hello's identity was claimed go where the hello went, in order. */
  private replayHeld(data: TunnelSocketData, transport: UwsTransport, held: readonly ArrayBuffer[]): void {
    for (const message of held) {
      if (transport.closed && data.relay === null) return;
      if (!this.delivered(data, this.sessions.ownerOf(transport), message, true)) return;
    }
  }

  /** The refusal a client reads, the log line that says why, and the socket closed. */
  private refuse(transport: UwsTransport, client: string, reason: string, identity?: string): void {
    log.warn('tunnel refused', { id: transport.id, client, ...(identity === undefined ? {} : { identity }), why: reason });
    transport.send(encodeControl({ type: 'refuse', reason }));
    transport.close(reason);
  }

  /** A text message on a tunnel socket: the socket is refused before its hello, its session detached after. */
  private textMessage(transport: UwsTransport, owner: ServerSession | undefined, client: string): void {
    const reason = `protocol error: ${TEXT_MESSAGE}`;
    if (owner !== undefined) this.sessions.lost(owner, reason);
    else if (this.awaitingHello.delete(transport) || this.claiming.delete(transport)) this.refuse(transport, client, reason);
  }

  drain(ws: WebSocket<TunnelSocketData>): void {
    // Credit, not uWS's drain, paces the streams; a relay to the identity's owner is paced by it.
    ws.getUserData().relay?.clientDrained();
  }

  close(ws: WebSocket<TunnelSocketData>, code: number, message: ArrayBuffer): void {
    const { transport, relay, relayedListener } = ws.getUserData();
    const listenerRelay = relayedListener?.relay;
    if (listenerRelay !== undefined && listenerRelay !== null) {
      this.listenerRelays.delete(listenerRelay);
      listenerRelay.carrierClosedWith(code);
    }
    if (relay !== null) {
      this.relays.delete(relay);
      relay.clientClosed(code);
    }
    if (transport === null) return;
    transport.closed = true;
    this.awaitingHello.delete(transport);
    this.claiming.delete(transport);
    const owner = this.sessions.ownerOf(transport);
    const text = Buffer.from(message).toString('utf8');
    if (owner !== undefined) this.sessions.lost(owner, `connection closed (${code}${text === '' ? '' : ` ${text}`})`);
  }

  /** See ServerSessions.attachedSessionOf. */
  attachedSessionOf(identity: string): ServerSession | null {
    return this.sessions.attachedSessionOf(identity);
  }

  allowOf(identity: string): AllowList | null {
    return this.identities.get(identity)?.allow ?? (this.config.protectedMode ? protectedModeAllow() : null);
  }

  transportFailed(owner: ServerSession, reason: string): void {
    this.sessions.lost(owner, reason);
  }

  endSession(owner: ServerSession, reason: string): void {
    this.sessions.end(owner, reason);
  }

  /** SIGHUP: re-reads the identities file; a bad file keeps the old one and says why. */
  reload(): void {
    if (this.config.protectedMode) return;
    try {
      this.identities = readIdentities(this.config.identitiesFile);
      log.info('identities reloaded', { file: this.config.identitiesFile, identities: this.identities.size });
    } catch (error) {
      log.error('identities not reloaded, keeping the previous ones', { error: errorMessage(error) });
    }
  }

  /**
   * The first message of a socket: it must be a hello, else the socket is refused and closed.
   * `claimed`: read again once this node's claim on its identity was answered.
   */
  private onFirstMessage(ws: WebSocket<TunnelSocketData>, transport: UwsTransport, message: Buffer, claimed: boolean): void {
    const { client } = ws.getUserData();
    try {
      const frame = decodeFrame(message);
      if (frame.type !== FrameType.control) throw new ProtocolError('the first frame must be a hello');
      const hello = decodeControl(frame.body);
      if (hello.type !== 'hello') throw new ProtocolError(`the first message must be a hello, not "${hello.type}"`);
      this.onHello(transport, client, hello, (identity) => this.placed(ws, transport, identity, message, claimed));
    } catch (error) {
      this.refuse(transport, client, error instanceof ProtocolError ? `protocol error: ${error.message}` : errorMessage(error));
    }
  }

  /**
   * Whether `identity`'s session is this node's to serve: always outside a cluster. Else the
   * socket is relayed to the identity's owner, or refused, or waits for this node's claim
   * (and its hello is read again then), and the answer is false.
   */
  private placed(ws: WebSocket<TunnelSocketData>, transport: UwsTransport, identity: string, hello: Buffer, claimed: boolean): boolean {
    const { siblings } = this;
    if (siblings === null) return true;
    const data = ws.getUserData();
    const owner = siblings.ownerOf(identity);
    if (owner === siblings.self) return true;
    const refuse = (reason: string): false => {
      this.refuse(transport, data.client, reason, identity);
      return false;
    };
    if (owner === null) {
      if (claimed) return refuse('the cluster could not settle which node serves this identity; connect again');
      // Read again later: uWS reuses the message's memory after this call.
      const copy = Buffer.from(hello);
      const claimOwner: Guarded = { logFields: { id: transport.id, identity }, abortAfterFault: (reason) => transport.close(reason) };
      this.claiming.set(transport, new HeldMessages());
      siblings.claim(identity).then(
        () => runGuarded(claimOwner, 'tunnel claim', () => this.afterClaim(ws, transport, identity, copy)),
        (error: unknown) => runGuarded(claimOwner, 'tunnel claim', () => refuse(`this server could not claim the identity: ${errorMessage(error)}; connect again`)),
      );
      return false;
    }
    const link = siblings.linkOf(owner);
    // A sibling relays only to the owner it knows; if that changed meanwhile, the client starts over.
    if (data.fromSibling || link === null) return refuse('the node that serves this identity changed; connect again');
    const relayOwner: Guarded = { logFields: { id: transport.id, identity, to: nodeName(owner) }, abortAfterFault: (reason) => data.relay?.endBoth(WsCloseCode.unexpected, reason) };
    transport.closed = true;
    data.relay = new SiblingRelay(ws, relayOwner, data.origin, { siblings, node: owner, link, subprotocol: TUNNEL_SUBPROTOCOL, highWater: SEND_BUDGET_BYTES }, hello);
    this.relays.add(data.relay);
    log.info('tunnel relayed', { id: transport.id, client: data.client, identity, to: nodeName(owner) });
    return false;
  }

  /** This node's claim on `identity` was answered: the hello is read again, unless its socket closed meanwhile. */
  private afterClaim(ws: WebSocket<TunnelSocketData>, transport: UwsTransport, identity: string, hello: Buffer): void {
    const held = this.claiming.get(transport)?.take() ?? [];
    this.claiming.delete(transport);
    if (transport.closed || this.shuttingDown) {
      if (!this.sessions.holds(identity)) this.siblings?.release(identity);
      if (!transport.closed) transport.close('server shutting down');
      return;
    }
    this.onFirstMessage(ws, transport, hello, true);
    this.replayHeld(ws.getUserData(), transport, held);
  }

  /** Another node owns `identity` after all (a split, resolved): its sessions here end, and their clients, reconnecting, are relayed to the owner. */
  private identityLost(identity: string): void {
    const reason = 'another node of the cluster serves this identity now; connect again';
    for (const owner of [...this.sessions.values()]) if (owner.identity === identity) this.sessions.end(owner, reason);
  }

  private onHello(transport: UwsTransport, client: string, hello: Extract<ControlMessage, { type: 'hello' }>, placed: (identity: string) => boolean): void {
    const refuse = (reason: string, why = reason): void => {
      log.warn('tunnel refused', { id: transport.id, client, identity: String(hello.name), why });
      transport.send(encodeControl({ type: 'refuse', reason }));
      transport.close(reason);
    };
    if (hello.version !== PROTOCOL_VERSION) return refuse(`protocol version ${String(hello.version)} is not supported (this server speaks ${PROTOCOL_VERSION})`);
    let identity: Identity | undefined;
    if (this.config.protectedMode) {
      const admitted = protectedModeIdentity(hello.name, client);
      if (typeof admitted === 'string') return refuse(admitted);
      identity = admitted;
    } else {
      identity = typeof hello.name === 'string' ? this.identities.get(hello.name) : undefined;
      // One answer for an unknown name and a wrong token, so names cannot be probed; the log tells them apart.
      const tokenOk = sameSecret(typeof hello.token === 'string' ? hello.token : '', identity?.tokenDigest ?? digest('\0no identity'));
      if (identity === undefined || !tokenOk) return refuse('unknown identity or wrong token', identity === undefined ? 'unknown identity' : 'wrong token');
    }
    // The identity's connection cap (max-connections-per-identity), counted until the socket closes.
    const capped = transport.ticket?.claimIdentity(identity.name) ?? null;
    if (capped !== null) return refuse('too many connections for this identity, try again later', capped.detail);
    if (!placed(identity.name)) return;

    const understandsGoaway = helloAnnounces(hello, FEATURE_GOAWAY);
    // The hello is a client's JSON: `resume` may be null, a number, anything.
    if (hello.resume !== undefined && (typeof hello.resume !== 'object' || hello.resume === null)) return refuse('malformed resume');
    const resume = hello.resume;
    const previous = resume === undefined ? undefined : this.sessions.get(String(resume.id));
    if (resume !== undefined && previous !== undefined) {
      if (previous.identity !== identity.name || !sameSecret(String(resume.secret), previous.secretDigest)) return refuse('session secret does not match', 'resume with a wrong secret');
      if (!isResumeState(resume.state)) return refuse('malformed resume state');
      this.sessions.attach(previous, transport, client);
      previous.understandsGoaway = understandsGoaway;
      previous.session.sendControl(this.welcome(previous, '', true));
      previous.session.resume(resume.state);
      // Connections its listeners kept while it was away: opened now, after the resume's own messages.
      this.listeners.ownerAttached(previous);
      this.resumes++;
      log.info('tunnel resumed', { ...previous.logFields, streams: previous.session.streams.size, resumes: previous.session.counters.resumes });
      // Upgraded just before the drain began: told at once, like every session then.
      if (this.shuttingDown) previous.goAway();
      return;
    }
    const full = this.sessions.makeRoomFor(identity.name);
    if (full !== null) return refuse(full);
    const secret = randomSecret(32);
    const owner = new ServerSession(randomSecret(16), digest(secret), identity.name, this.config.window, this);
    this.sessions.add(owner);
    this.sessions.attach(owner, transport, client);
    owner.understandsGoaway = understandsGoaway;
    owner.session.sendControl(this.welcome(owner, secret, false));
    log.info('tunnel open', { ...owner.logFields, ...(resume === undefined ? {} : { note: 'previous session expired' }) });
    if (this.shuttingDown) owner.goAway();
  }

  private welcome(owner: ServerSession, secret: string, resumed: boolean): ControlMessage {
    const { graceSeconds, window, heartbeatMs, timeoutMs } = this.config;
    return {
      type: 'welcome', session: owner.id, secret, resumed, graceSeconds, window, heartbeatMs, timeoutMs,
      ...(resumed ? { state: owner.session.resumeState() } : {}),
    };
  }

  private sweep(): void {
    const now = Date.now();
    this.sessions.sweep(now);
    for (const { socket, waitedMs } of this.awaitingHello.takeExpired(now, this.config.timeoutMs)) {
      log.warn('tunnel closed before its hello', { id: socket.id, client: socket.client, waited_ms: waitedMs, why: `no hello within the ${this.config.timeoutMs} ms heartbeat timeout` });
      socket.close(`no hello within ${this.config.timeoutMs} ms`);
    }
  }

  /** Remote listeners of identities owned on other hosts, bound here too: address → identity. */
  mirroredStatus(): Record<string, string> {
    return this.mirrors?.status() ?? {};
  }

  /** Tunnel WebSockets open: attached sessions' and those still waiting for their hello. */
  get transports(): number {
    return this.sessions.attached + this.awaitingHello.size;
  }

  /** Streams open in every session: a drain waits for them. */
  get openStreams(): number {
    let count = 0;
    for (const owner of this.sessions.values()) count += owner.session.streams.size;
    return count;
  }

  /**
   * Drain (SIGTERM): no new tunnels, and the remote listeners close (connections they accepted
   * go on); clients that understand it are told to go away (server-session.ts), and ask for
   * their listeners on the instance their new connection reaches. The streams open here go on
   * until they end or the drain's deadline, when shutdown() resets what is left.
   */
  stopAccepting(): void {
    this.shuttingDown = true;
    this.listeners.stopAll();
    this.mirrors?.stopAll();
    for (const owner of [...this.sessions.values()]) owner.goAway();
  }

  /**
   * The operator ends the session the status lists as `shown` (its id's first 8 characters): its
   * streams are reset and its connection closed with `reason`; its client comes back with a new
   * session, as after a grace period. Several sessions sharing the 8 are left alone.
   */
  endByOperator(shown: string, reason: string): 'ended' | 'none' | 'ambiguous' {
    const matching = [...this.sessions.values()].filter((owner) => owner.id.startsWith(shown));
    const [owner] = matching;
    if (owner === undefined) return 'none';
    if (matching.length > 1) return 'ambiguous';
    log.info('tunnel closed', { ...owner.logFields, why: reason });
    this.sessions.end(owner, reason);
    return 'ended';
  }

  shutdown(): void {
    this.shuttingDown = true;
    clearInterval(this.sweepTimer);
    this.sessions.endAll('server shutting down');
    for (const relay of this.relays) relay.endBoth(WsCloseCode.shutdown, 'server shutting down');
    for (const relay of this.listenerRelays) relay.reset('server shutting down');
    this.mirrors?.shutdown();
    for (const { socket } of this.awaitingHello.takeExpired(Infinity, 0)) socket.close('server shutting down');
  }
}

function encodeControl(message: ControlMessage): Buffer {
  return encodeJson(FrameType.control, 0, message);
}
