/*
 * A Transport over a uWS WebSocket. Every send is corked (one syscall for the frame), through
 * a module-level slot so that the hot path creates no closure per frame. A transport whose
 * socket closed drops sends: uWS throws on a closed WebSocket, and the session resumes later.
 */
import type { WebSocket } from 'uWebSockets.js';
import type { Transport } from './mux.js';

export interface TunnelSocketData {
  transport: UwsTransport | null;
}

let corkSocket: WebSocket<TunnelSocketData> | null = null;
let corkFrame: Buffer | null = null;
function sendCorked(): void {
  corkSocket?.send(corkFrame as Buffer, true);
}

export class UwsTransport implements Transport {
  closed = false;

  constructor(private readonly ws: WebSocket<TunnelSocketData>) {}

  send(frame: Buffer): void {
    if (this.closed) return;
    corkSocket = this.ws;
    corkFrame = frame;
    this.ws.cork(sendCorked);
    corkSocket = null;
    corkFrame = null;
  }

  close(reason: string): void {
    if (this.closed) return;
    this.closed = true;
    // A clean close frame when we can; the socket may be half-open, so uWS closes it regardless.
    this.ws.end(4000, reason.slice(0, 120));
  }
}
