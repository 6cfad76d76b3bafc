/*
 * What the session needs of a transport, WebSocket or HTTP long-poll: records in order in both
 * directions, and one report when it is lost. A transport hands over records only once it is
 * attached, so that nothing that arrives between its handshake and the session taking it over
 * (a resume's resent data, often in the same read as the WELCOME) goes missing.
 */
import type { EndBody, Welcome } from './control.js';
import type { TransportKind } from './events.js';
import type { OutMessage } from './outbox.js';
import type { SessionRecord } from './records.js';

export interface TransportCallbacks {
  record(record: SessionRecord): void;
  /** The transport is gone: `code` is a WebSocket close code, or the HTTP answer's equivalent. */
  lost(code: number, reason: string): void;
}

export interface Transport {
  readonly kind: TransportKind;
  /** Starts delivery: first what arrived since the handshake, then as it comes. */
  attach(callbacks: TransportCallbacks): void;
  sendData(message: OutMessage): void;
  /** The client is done; `offset` is where its data ends. */
  sendEnd(end: EndBody, offset: number): void;
  /** The acknowledgement policy says the server should hear of `received`. */
  acknowledge(received: number): void;
  /** The server ended the session: acknowledge `received` and hang up. */
  finish(received: number): void;
  /** Hangs up; no callback follows. */
  close(): void;
}

/** The close code of a connection lost without a close frame (or an HTTP request that failed). */
export const ABNORMAL_CLOSURE = 1006;
/** The close code of a broken protocol: the session cannot go on with that server. */
export const PROTOCOL_ERROR = 1002;

/** What a successful attempt gives the session. */
export interface Handshake {
  readonly transport: Transport;
  /** Data bytes the server has from this client. */
  readonly received: number;
  /** The WELCOME; an HTTP resume has none (its first poll tells `received`). */
  readonly welcome: Welcome | undefined;
}

/** Why a connection attempt (open or resume) did not give the session a transport. */
export class AttemptFailure extends Error {
  override readonly name = 'AttemptFailure';

  constructor(
    /** A close code: 4400/4403/4404 from the server, 4409 while attached elsewhere, 4503 while the server cannot place the session, else 1006. */
    readonly code: number,
    reason: string,
    /** No attempt can succeed after this one: the session (or the way to it) is gone. */
    readonly fatal: boolean,
    /** A WebSocket attempt failed before its upgrade: the HTTP transport may still get through. */
    readonly beforeUpgrade = false,
  ) {
    super(reason);
  }
}

/** The answers to a resume that end the session; 4409 (attached elsewhere) and 4503 (a cluster's map out of date) pass in time. */
export function isFatalSessionCode(code: number): boolean {
  return code === 4400 || code === 4403 || code === 4404;
}

/** The close code that stands for an HTTP status in a session request (docs/sessions.md). */
export function closeCodeOfStatus(status: number): number {
  switch (status) {
    case 400:
      return 4400;
    case 403:
      return 4403;
    case 404:
      return 4404;
    case 409:
      return 4409;
    case 503:
      return 4503;
    default:
      return ABNORMAL_CLOSURE;
  }
}
