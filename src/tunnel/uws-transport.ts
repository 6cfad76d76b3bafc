/*
 * A Transport over a uWS WebSocket. Every send is corked (one syscall for the frame), through
 * a module-level slot so that the hot path creates no closure per frame. Sends follow the one
 * policy (core/send-policy.ts): credit keeps the queue below maxBackpressure, and should uWS
 * still drop a frame, the transport is closed and says why — the session resumes on the next
 * connection and replays what the other side did not get. A transport whose socket closed
 * drops sends: uWS throws on a closed WebSocket.
 */
import type { WebSocket } from 'uWebSockets.js';
import type { SiblingRelay, RelayOrigin } from '../cluster/sibling-relay.js';
import type { AdmissionTicket } from '../core/admission.js';
import type { SocketData } from '../core/endpoint.js';
import { SendOverflowError, sendMessage } from '../core/send-policy.js';
import { log } from '../lib/log.js';
import { closeReason } from '../lib/text.js';
import type { ListenerRelay } from './listener-relay.js';
import type { Transport } from './mux.js';

export interface TunnelSocketData extends SocketData {
  readonly client: string;
  transport: UwsTransport | null;
  /** How the client reached this worker, for a relay to the worker that owns its identity. */
  readonly origin: RelayOrigin;
  /** Relayed here by another worker of the cluster: it is not relayed again. */
  readonly fromSibling: boolean;
  /** The identity is another worker's: every message goes there. */
  relay: SiblingRelay | null;
  /** A connection another instance accepted on its mirror of this node's remote listener at `address` (listener-relay.ts). */
  readonly relayedListener: { readonly address: string; relay: ListenerRelay | null } | null;
}

let corkSocket: WebSocket<TunnelSocketData> | null = null;
let corkFrame: Buffer | null = null;
let corkOverflow: SendOverflowError | null = null;
function sendCorked(): void {
  try {
    sendMessage(corkSocket as WebSocket<TunnelSocketData>, corkFrame as Buffer, true);
  } catch (error) {
    if (!(error instanceof SendOverflowError)) throw error;
    corkOverflow = error;
  }
}

export class UwsTransport implements Transport {
  closed = false;
  readonly openedAt = Date.now();

  constructor(private readonly ws: WebSocket<TunnelSocketData>) {}

  get id(): number {
    return this.ws.getUserData().id;
  }

  /** The socket's admission ticket, for the identity's connection cap once the hello names it. */
  get ticket(): AdmissionTicket | null {
    return this.ws.getUserData().ticket ?? null;
  }

  get client(): string {
    return this.ws.getUserData().client;
  }

  send(frame: Buffer): void {
    if (this.closed) return;
    corkSocket = this.ws;
    corkFrame = frame;
    this.ws.cork(sendCorked);
    corkSocket = null;
    corkFrame = null;
    const overflow = corkOverflow;
    if (overflow !== null) {
      corkOverflow = null;
      log.error('tunnel send buffer overflowed', { id: this.id, queued: overflow.queued });
      this.close(`internal error: ${overflow.message}`);
    }
  }

  close(reason: string): void {
    if (this.closed) return;
    this.closed = true;
    // A clean close frame when we can; the socket may be half-open, so uWS closes it regardless.
    this.ws.end(4000, closeReason(reason));
  }
}
