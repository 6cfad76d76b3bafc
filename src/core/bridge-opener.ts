/*
 * Everything a bridge needs before the 101: ask the backend for a peer (bounded in time: a
 * backend that never answers must not hold the client), check its answer, pass it through the
 * gate (the destination allow-list), connect the peer. Each
 * failure is a Refusal with the status the client gets and the detail the log gets.
 */
import type { Backend, FramingDefinition, PeerInfo, PeerQuery } from './api.js';
import { parsePeerAddress, PeerAddressError, type PeerAddress } from './peer-address.js';
import type { PeerGate } from './peer-gate.js';
import { connectPeer, PeerConnectError, type PeerConnection } from './peer.js';
import { Refusal } from './refusal.js';
import { errorMessage } from '../lib/errors.js';
import { log } from '../lib/log.js';

export interface BridgeOpenerOptions {
  readonly backend: Backend;
  readonly framing: (name: string) => FramingDefinition | undefined;
  readonly connectTimeoutMs: number;
  readonly backendTimeoutMs: number;
  /** Where the backend's answers may lead (peer-gate.ts). */
  readonly gate: PeerGate;
}

export interface OpenedPeer {
  readonly peer: PeerConnection;
  readonly framing: FramingDefinition;
  readonly framingConfig: string | null;
  /** The subprotocol to answer with, '' for none. */
  readonly protocol: string;
  /** The backend let this peer outlive its client (a resumable session, if the client asks). */
  readonly resumable: boolean;
}

function resolveAddress(info: PeerInfo, query: PeerQuery): PeerAddress {
  try {
    const parsed = parsePeerAddress(info.host, info.port);
    if (parsed.guessedTransport) log.warn('peer address has no scheme, guessing tcp', { id: query.connectionId, peer: info.host });
    return parsed.address;
  } catch (error) {
    if (error instanceof PeerAddressError) throw new Refusal(502, 'Bad peer address', error.message);
    throw error;
  }
}

function backendFailed(backend: Backend, error: unknown): Refusal {
  return error instanceof Refusal ? error : new Refusal(500, 'Internal error', `backend "${backend.name}" failed: ${errorMessage(error)}`);
}

/** The backend's answer; a backend (a plugin) that throws or rejects refuses this one upgrade. */
async function askBackend(options: BridgeOpenerOptions, query: PeerQuery): Promise<PeerInfo | null> {
  const { backend, backendTimeoutMs } = options;
  let answer: PeerInfo | null | Promise<PeerInfo | null>;
  try {
    answer = backend.query(query);
  } catch (error) {
    throw backendFailed(backend, error);
  }
  // A synchronous answer needs no deadline (nor the timer and promises one costs per upgrade).
  if (!(answer instanceof Promise)) return answer;
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => reject(new Refusal(504, 'Backend did not answer', `backend "${backend.name}" did not answer within ${backendTimeoutMs} ms`)), backendTimeoutMs);
  });
  try {
    return await Promise.race([answer, deadline]);
  } catch (error) {
    throw backendFailed(backend, error);
  } finally {
    clearTimeout(timer);
  }
}

/** Finds and connects the peer for `query`; `cancelled()` is asked after each wait (the client may have left). */
export async function openPeer(options: BridgeOpenerOptions, query: PeerQuery, cancelled: () => boolean): Promise<OpenedPeer | null> {
  const info = await askBackend(options, query);
  if (cancelled()) return null;
  if (info === null) throw new Refusal(404, 'No peer for this endpoint', 'backend found no peer');
  const address = resolveAddress(info, query);
  const framingName = info.framing ?? 'auto';
  const framing = options.framing(framingName);
  if (framing === undefined) throw new Refusal(502, 'Bad peer configuration', `backend chose unknown framing "${framingName}"`);
  let protocol = '';
  if (info.protocol !== undefined) {
    const chosen = query.protocols[info.protocol];
    if (chosen === undefined) {
      throw new Refusal(502, 'Bad peer configuration', `backend chose protocol index ${info.protocol} of ${query.protocols.length} offered`);
    }
    protocol = chosen;
  }
  const allowed = await options.gate.pass(address, options.backend.name);
  if (cancelled()) return null;
  let peer: PeerConnection;
  try {
    peer = await connectPeer(allowed, options.connectTimeoutMs);
  } catch (error) {
    if (!(error instanceof PeerConnectError)) throw error;
    throw error.timedOut ? new Refusal(504, 'Peer did not answer', error.message) : new Refusal(502, 'Peer unreachable', error.message);
  }
  if (cancelled()) {
    peer.destroy();
    return null;
  }
  return { peer, framing, framingConfig: info.framingConfig ?? null, protocol, resumable: info.resumable === true };
}
