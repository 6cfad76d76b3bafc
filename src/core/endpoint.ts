/*
 * What the front (src/front/) needs from anything that accepts WebSocket upgrades: the bridge,
 * a websocket route's relay, the tunnel server. The front validates the request and the
 * handshake, then hands the endpoint an UpgradeAnswer; every later uWS callback for the socket
 * reaches the endpoint through the front's guard, so an endpoint's throw closes that one socket.
 */
import type { WebSocket } from 'uWebSockets.js';
import type { AdmissionTicket } from './admission.js';
import type { KeptAlive } from './client-set.js';
import type { Refusal } from './refusal.js';
import type { Guarded } from '../lib/guard.js';
import type { ClientRequest } from './request.js';

/** Every endpoint's per-socket data carries the connection id the guard logs. */
export interface SocketData {
  readonly id: number;
  /** The connection's place under the limits (admission.ts); the front adds it at the 101 and releases it at the close. */
  readonly ticket?: AdmissionTicket;
}

/** The pending answer to one upgrade; exactly one of accept and refuse takes effect. */
export interface UpgradeAnswer<D extends SocketData> {
  /** True once the client left or the answer was given (a deadline, shutdown). */
  readonly settled: boolean;
  /** Runs once if the client leaves or the handshake times out before an answer. */
  onCancel(handler: () => void): void;
  /** Answers 101 with `protocol` ('' for none); false when too late (the caller cleans up). */
  accept(data: D, protocol: string): boolean;
  refuse(refusal: Refusal): void;
}

/** The part of a uWS WebSocket a bridge or a session uses (uWS's WebSocket satisfies it as is). */
export interface ClientSocket {
  send(message: Uint8Array, isBinary: boolean): number;
  getBufferedAmount(): number;
  cork(callback: () => void): unknown;
  end(code: number, reason: string): void;
  close(): void;
  ping(message: string): number;
}

/**
 * What the bridge endpoint drives for one upgraded socket: a plain bridge, or the socket of a
 * resumable session. Each is also the guard's owner for its socket's callbacks.
 */
export interface BridgedClient extends KeptAlive {
  /** `ticket`: the connection's limits, when the front admitted it (always, in the server). */
  open(ws: ClientSocket, ticket: AdmissionTicket | null): void;
  /** `message` is uWS's buffer, valid only during the call. */
  onClientMessage(message: ArrayBuffer, isBinary: boolean): void;
  onClientDrain(): void;
  onClientPong(): void;
  onClientClosed(code: number, message: ArrayBuffer): void;
  /** The guard's owner; `socketClosed` after a throw in the close handler, when the socket is gone. */
  ownerOf(socketClosed: boolean): Guarded;
}

export interface SocketLimits {
  /** Largest message uWS assembles; beyond it uWS drops the connection without a close frame. */
  readonly maxPayloadLength: number;
  /** Bytes uWS queues toward the client before send() drops messages (see send-policy.ts). */
  readonly maxBackpressure: number;
}

export interface WsEndpoint<D extends SocketData> {
  /** For the log: `bridge`, `route /chat`, `tunnel`. */
  readonly name: string;
  readonly limits: SocketLimits;
  upgrade(request: ClientRequest, answer: UpgradeAnswer<D>): void;
  open(ws: WebSocket<D>): void;
  message(ws: WebSocket<D>, message: ArrayBuffer, isBinary: boolean): void;
  drain(ws: WebSocket<D>): void;
  close(ws: WebSocket<D>, code: number, reason: ArrayBuffer): void;
  pong?(ws: WebSocket<D>): void;
  /**
   * Who is closed when the endpoint's code throws for `ws` (default: the socket, with 1011).
   * `socketClosed` is true after a throw in the close handler: the socket is gone, and what
   * hangs on it (a peer, an upstream) must be released without touching it.
   */
  ownerOf?(ws: WebSocket<D>, socketClosed: boolean): Guarded | null;
}
