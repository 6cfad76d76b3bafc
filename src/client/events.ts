/*
 * The events a ResumableSocket dispatches besides `open`, `message` and `error` (which are the
 * platform's Event and MessageEvent): `close` as the platform's CloseEvent where there is one
 * (browsers; Node 20 has none), and the session's own `detach` and `resume`, CustomEvents whose
 * `detail` tells what happened.
 */

export type TransportKind = 'websocket' | 'http';

export interface CloseEventFields {
  readonly code: number;
  readonly reason: string;
  readonly wasClean: boolean;
}

/** The shape of a `close` event, whichever class made it. */
export type SocketCloseEvent = Event & CloseEventFields;

class FallbackCloseEvent extends Event implements CloseEventFields {
  readonly code: number;
  readonly reason: string;
  readonly wasClean: boolean;

  constructor(type: string, init: CloseEventFields) {
    super(type);
    this.code = init.code;
    this.reason = init.reason;
    this.wasClean = init.wasClean;
  }
}

type CloseEventClass = new (type: string, init: CloseEventFields) => SocketCloseEvent;

export function closeEvent(fields: CloseEventFields): SocketCloseEvent {
  const platform = (globalThis as { CloseEvent?: CloseEventClass }).CloseEvent;
  return new (platform ?? FallbackCloseEvent)('close', fields);
}

export interface DetachDetail {
  /** The transport that was lost. */
  readonly transport: TransportKind;
  /** Its close code (1006 for a network failure), or the HTTP transport's equivalent. */
  readonly code: number;
  readonly reason: string;
}

export interface ResumeDetail {
  /** Attempts this resume took, 1 when the first one succeeded. */
  readonly attempt: number;
  readonly transport: TransportKind;
}

/** `detach`: the transport was lost; the session waits for a resume. Its `detail` says which. */
export class DetachEvent extends CustomEvent<DetachDetail> {
  constructor(detail: DetachDetail) {
    super('detach', { detail });
  }
}

/** `resume`: the session carries on over a new transport. */
export class ResumeEvent extends CustomEvent<ResumeDetail> {
  constructor(detail: ResumeDetail) {
    super('resume', { detail });
  }
}
