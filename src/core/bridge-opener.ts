/*
 * Everything a bridge needs before the 101: ask the backend for a peer (bounded in time: a
 * backend that never answers must not hold the client), check its answer, pass it through the
 * gate (the destination allow-list), connect the peer (unless the upgrade is early, which
 * connects after the 101: front/bridge-endpoint.ts); a peer on this host inside the call where
 * the kernel allows, so that the 101 can still leave from uWS's handler. Each failure is a
 * Refusal with the status the client gets and the detail the log gets.
 */
import type { Backend, FramingDefinition, PeerInfo, PeerQuery } from './api.js';
import type { BridgeObservers } from './bridge-observer.js';
import { parsePeerAddress, PeerAddressError, type ParsedPeerAddress, type PeerAddress } from './peer-address.js';
import type { PeerGate } from './peer-gate.js';
import { connectPeer, connectPeerAtOnce, PeerConnectError, type PeerConnection, type PeerProxyHeader } from './peer.js';
import { hostLimitRefusal, Refusal } from './refusal.js';
import { errorMessage } from '../lib/errors.js';
import { log } from '../lib/log.js';

export interface BridgeOpenerOptions {
  readonly backend: Backend;
  readonly framing: (name: string) => FramingDefinition | undefined;
  readonly connectTimeoutMs: number;
  readonly backendTimeoutMs: number;
  /** Where the backend's answers may lead (peer-gate.ts). */
  readonly gate: PeerGate;
  /** Who hears of the bridges opened with these options (the metrics); none by default. */
  readonly observers?: BridgeObservers | undefined;
  /**
   * Answer the 101 once the peer is chosen, before it is connected (core option early-upgrade):
   * a peer that cannot be reached then closes the WebSocket with 1014 instead of refusing it.
   */
  readonly earlyUpgrade?: boolean;
}

export interface OpenedPeer extends ChosenPeer {
  readonly peer: PeerConnection;
  /** How long the peer took to accept the connection (for the metrics). */
  readonly connectSeconds: number;
}

/** The backend (plugin code) threw or rejected: the upgrade is refused, and the metrics count a plugin error. */
export class BackendFailure extends Refusal {
  constructor(detail: string) {
    super('backend-failed', 500, 'Internal error', detail);
  }
}

/**
 * Parsed backend answers by their text: a backend answers the same few addresses again and
 * again, and each connection then shares one address object (and its `text`) instead of
 * parsing and keeping its own. Bounded: a backend whose answers vary per client starts over.
 */
const parsedAnswers = new Map<string, ParsedPeerAddress>();
const PARSED_ANSWERS_KEPT = 256;

function parseAnswer(host: string, port: string | undefined): ParsedPeerAddress {
  // Length-prefixed: no host and port text can spell another pair's key.
  const key = port === undefined ? `-${host}` : `${port.length}:${port}${host}`;
  let parsed = parsedAnswers.get(key);
  if (parsed === undefined) {
    parsed = parsePeerAddress(host, port);
    if (parsedAnswers.size >= PARSED_ANSWERS_KEPT) parsedAnswers.clear();
    parsedAnswers.set(key, parsed);
  }
  return parsed;
}

function resolveAddress(info: PeerInfo, query: PeerQuery): PeerAddress {
  try {
    const parsed = parseAnswer(info.host, info.port);
    if (parsed.guessedTransport) log.warn('peer address has no scheme, guessing tcp', { id: query.connectionId, peer: info.host });
    return parsed.address;
  } catch (error) {
    if (error instanceof PeerAddressError) throw new Refusal('bad-peer-config', 502, 'Bad peer address', error.message);
    throw error;
  }
}

/**
 * The PROXY header the backend asked for. Never on datagram peers: there is no connection start
 * to put it before, so it would have to lead every datagram, changing each message the peer reads.
 */
function proxyHeaderFor(info: PeerInfo, address: PeerAddress, query: PeerQuery): PeerProxyHeader | null {
  const version: unknown = info.proxyProtocol;
  if (version === undefined) return null;
  if (version !== 'v1' && version !== 'v2') throw new Refusal('bad-peer-config', 502, 'Bad peer configuration', `backend chose PROXY protocol ${JSON.stringify(version)} (v1 or v2)`);
  if (address.transport === 'udp' || address.transport === 'unix-dgram') {
    throw new Refusal('bad-peer-config', 502, 'Bad peer configuration', `backend asked for a PROXY header to the datagram peer ${address.text} (stream peers only)`);
  }
  return { version, clientAddress: query.clientAddress };
}

function backendFailed(backend: Backend, error: unknown): Refusal {
  return error instanceof Refusal ? error : new BackendFailure(`backend "${backend.name}" failed: ${errorMessage(error)}`);
}

/** The backend's answer; a backend (a plugin) that throws or rejects refuses this one upgrade. */
function askBackend(options: BridgeOpenerOptions, query: PeerQuery): PeerInfo | null | Promise<PeerInfo | null> {
  const { backend } = options;
  let answer: PeerInfo | null | Promise<PeerInfo | null>;
  try {
    answer = backend.query(query);
  } catch (error) {
    throw backendFailed(backend, error);
  }
  // A synchronous answer needs no deadline (nor the timer and promises one costs per upgrade).
  return answer instanceof Promise ? withDeadline(options, answer) : answer;
}

async function withDeadline(options: BridgeOpenerOptions, answer: Promise<PeerInfo | null>): Promise<PeerInfo | null> {
  const { backend, backendTimeoutMs } = options;
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => reject(new Refusal('backend-timeout', 504, 'Backend did not answer', `backend "${backend.name}" did not answer within ${backendTimeoutMs} ms`)), backendTimeoutMs);
  });
  try {
    return await Promise.race([answer, deadline]);
  } catch (error) {
    throw backendFailed(backend, error);
  } finally {
    clearTimeout(timer);
  }
}

/** The backend's choice, checked and let through the gate: everything but the connection. */
export interface ChosenPeer {
  /** The address the gate let through (a name it resolved is connected to as resolved). */
  readonly address: PeerAddress;
  readonly framing: FramingDefinition;
  readonly framingConfig: string | null;
  /** The subprotocol to answer with, '' for none. */
  readonly protocol: string;
  /** The backend let this peer outlive its client (a resumable session, if the client asks). */
  readonly resumable: boolean;
  readonly proxy: PeerProxyHeader | null;
}

/**
 * Finds the peer for `query`; `cancelled()` is asked after each wait (the client may have left).
 * A synchronous backend and gate give a synchronous answer: an early upgrade (front/bridge-endpoint.ts)
 * can then answer inside uWS's handler, corked.
 */
export function choosePeer(options: BridgeOpenerOptions, query: PeerQuery, cancelled: () => boolean): ChosenPeer | null | Promise<ChosenPeer | null> {
  const asked = askBackend(options, query);
  if (asked instanceof Promise) return asked.then((info) => (cancelled() ? null : checkChoice(options, query, info, cancelled)));
  return checkChoice(options, query, asked, cancelled);
}

function checkChoice(options: BridgeOpenerOptions, query: PeerQuery, info: PeerInfo | null, cancelled: () => boolean): ChosenPeer | null | Promise<ChosenPeer | null> {
  if (info === null) throw new Refusal('no-peer', 404, 'No peer for this endpoint', 'backend found no peer');
  const address = resolveAddress(info, query);
  const framingName = info.framing ?? 'auto';
  const framing = options.framing(framingName);
  if (framing === undefined) throw new Refusal('bad-peer-config', 502, 'Bad peer configuration', `backend chose unknown framing "${framingName}"`);
  let protocol = '';
  if (info.protocol !== undefined) {
    const chosen = query.protocols[info.protocol];
    if (chosen === undefined) {
      throw new Refusal('bad-peer-config', 502, 'Bad peer configuration', `backend chose protocol index ${info.protocol} of ${query.protocols.length} offered`);
    }
    protocol = chosen;
  }
  const proxy = proxyHeaderFor(info, address, query);
  const choice = (allowed: PeerAddress): ChosenPeer => ({ address: allowed, framing, framingConfig: info.framingConfig ?? null, protocol, resumable: info.resumable === true, proxy });
  const passed = options.gate.pass(address, options.backend.name);
  if (passed instanceof Promise) return passed.then((allowed) => (cancelled() ? null : choice(allowed)));
  return choice(passed);
}

/**
 * The chosen peer with its connection, in one literal: a spread here (`{ ...chosen, peer }`)
 * got a map of its own on every upgrade on Node 20 (~2 µs a connection, bench/README.md "The
 * connection path's own objects"; why: lib/extended.ts).
 */
function opened(chosen: ChosenPeer, peer: PeerConnection, connectSeconds: number): OpenedPeer {
  const { address, framing, framingConfig, protocol, resumable, proxy } = chosen;
  return { address, framing, framingConfig, protocol, resumable, proxy, peer, connectSeconds };
}

/** What the client gets for a peer that could not be connected: 502, 504 for a timeout, 503 where this host ran out. */
function connectRefusal(error: PeerConnectError): Refusal {
  if (error.hostLimit) return hostLimitRefusal(error.message);
  return error.timedOut ? new Refusal('peer-timeout', 504, 'Peer did not answer', error.message) : new Refusal('peer-unreachable', 502, 'Peer unreachable', error.message);
}

/**
 * Connects the chosen peer inside this call where the kernel settles it there (a peer on this
 * host: peer.ts connectPeerAtOnce), so that an upgrade still in uWS's handler is answered there,
 * corked, in one send; null where the connect must be waited for (connectChosen then).
 */
export function connectChosenAtOnce(chosen: ChosenPeer): OpenedPeer | null {
  const connectStart = performance.now();
  const peer = connectPeerAtOnce(chosen.address, chosen.proxy);
  if (peer === null) return null;
  if (peer instanceof PeerConnectError) throw connectRefusal(peer);
  return opened(chosen, peer, (performance.now() - connectStart) / 1000);
}

/** Connects the chosen peer; a failure is the Refusal the client gets (connectRefusal). */
export async function connectChosen(options: BridgeOpenerOptions, chosen: ChosenPeer, cancelled: () => boolean): Promise<OpenedPeer | null> {
  let peer: PeerConnection;
  const connectStart = performance.now();
  try {
    peer = await connectPeer(chosen.address, options.connectTimeoutMs, chosen.proxy);
  } catch (error) {
    if (!(error instanceof PeerConnectError)) throw error;
    throw connectRefusal(error);
  }
  if (cancelled()) {
    peer.destroy();
    return null;
  }
  return opened(chosen, peer, (performance.now() - connectStart) / 1000);
}

/** Finds and connects the peer for `query`: the connect is the one wait most upgrades have. */
export async function openPeer(options: BridgeOpenerOptions, query: PeerQuery, cancelled: () => boolean): Promise<OpenedPeer | null> {
  const choosing = choosePeer(options, query, cancelled);
  const chosen = choosing instanceof Promise ? await choosing : choosing;
  return chosen === null ? null : (connectChosenAtOnce(chosen) ?? connectChosen(options, chosen, cancelled));
}
