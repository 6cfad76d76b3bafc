/*
 * A remote listener's connection carried between two nodes of a cluster across hosts
 * (docs/cluster.md, "Remote listeners on every instance"). The node that accepted it opens a
 * WebSocket to the owner's link, at the tunnel path, with the subprotocol below, the cluster's
 * secret, and `?listener=<bind>:<port>`; the owner hands the other end of it to the identity's
 * session as if its own listener had accepted the connection.
 *
 * On that WebSocket, both ways:
 *   binary message   bytes of the connection, at most MAX_RELAY_MESSAGE each
 *   text "c<n>"      the receiver's socket has taken n more bytes: the sender may send n more
 *   text "end"       the sender's side of the connection ended (TCP FIN); the other side goes on
 *   close 1000       both sides ended and every byte was taken; any other code is a reset
 * A sender keeps at most RELAY_WINDOW bytes unacknowledged and pauses its socket past that, so
 * a slow reader slows the writer at the far end of the cluster instead of filling memory, on
 * every engine (uWS 20.30 cannot pause a WebSocket; credit needs no pause).
 */
import type { Duplex } from 'node:stream';
import { WsCloseCode } from '../core/api.js';
import { errorMessage } from '../lib/errors.js';
import { guarded, type Guarded } from '../lib/guard.js';
import { log } from '../lib/log.js';
import { resetConnection } from '../lib/reset-connection.js';

export const LISTENER_RELAY_SUBPROTOCOL = 'websocksy-listener.1';

/** Bytes a side may have sent and not yet seen taken. */
export const RELAY_WINDOW = 1024 * 1024;

/** The tunnel endpoint's uWS limit (MAX_FRAME) is far above this. */
export const MAX_RELAY_MESSAGE = 64 * 1024;

/** Credit is returned in pieces no smaller than this, unless the socket has taken everything. */
const CREDIT_BATCH = RELAY_WINDOW / 4;

const END = 'end';

/** The WebSocket under a relay: uWS's on the owner, websocksy's own client's (lib/websocket-client.ts) on the node that accepted. */
export interface RelayCarrier {
  sendBinary(chunk: Buffer): void;
  sendText(text: string): void;
  /** 1000 for an orderly end, anything else for a reset. */
  close(code: number, reason: string): void;
}

/** The local end: the TCP connection, or the pipe end a tunnel stream holds. */
export type RelaySocket = Duplex & { resetAndDestroy(): unknown };

export class ListenerRelay {
  private unacknowledged = 0;
  private pausedForCredit = false;
  private creditOwed = 0;
  private localEnded = false;
  private remoteEnded = false;
  private carrierClosed = false;
  /** Bytes handed to the socket and not yet written: "everything taken" is known without counting Node's queue. */
  private writing = 0;

  constructor(
    private readonly socket: RelaySocket,
    private readonly carrier: RelayCarrier,
    private readonly owner: Guarded,
  ) {
    socket.on('data', guarded(owner, 'relayed connection read', (chunk: Buffer) => this.fromSocket(chunk)));
    socket.on('end', guarded(owner, 'relayed connection end', () => this.socketEnded()));
    socket.on('error', guarded(owner, 'relayed connection error', (error: Error) => this.reset(`the connection failed: ${errorMessage(error)}`)));
    socket.on('close', guarded(owner, 'relayed connection close', () => this.socketClosed()));
  }

  /** A message from the other node. `owned`: the buffer stays valid after the call; uWS's and a view of the shared read buffer do not. */
  fromCarrier(message: Buffer, isBinary: boolean, owned: boolean): void {
    if (this.carrierClosed) return;
    if (isBinary) {
      if (this.remoteEnded) return this.reset('the other node sent bytes after its end');
      const chunk = owned ? message : Buffer.from(message);
      this.writing += chunk.length;
      this.socket.write(chunk, (error) => (error ? undefined : this.taken(chunk.length)));
      return;
    }
    const text = message.toString('latin1');
    if (text === END) {
      this.remoteEnded = true;
      this.socket.end();
      this.closeIfDone();
      return;
    }
    const credit = text.startsWith('c') ? Number(text.slice(1)) : NaN;
    if (!Number.isSafeInteger(credit) || credit <= 0 || credit > this.unacknowledged) return this.reset(`the other node sent a malformed message: ${JSON.stringify(text.slice(0, 40))}`);
    this.unacknowledged -= credit;
    if (this.pausedForCredit && this.unacknowledged < RELAY_WINDOW) {
      this.pausedForCredit = false;
      this.socket.resume();
    }
    this.closeIfDone();
  }

  /** The other node closed the WebSocket (or it broke): 1000 comes only once both sides took everything. */
  carrierClosedWith(code: number): void {
    if (this.carrierClosed) return;
    this.carrierClosed = true;
    if (code === WsCloseCode.normal) this.socket.destroy();
    else {
      log.info('relayed listener connection reset', { ...this.owner.logFields, why: `the other node closed its relay with ${code}` });
      resetConnection(this.socket);
    }
  }

  /** Ends both sides abruptly: the TCP peer sees a reset, the other node a close that says why. */
  reset(reason: string): void {
    if (!this.carrierClosed || !this.socket.destroyed) log.info('relayed listener connection reset', { ...this.owner.logFields, why: reason });
    if (!this.carrierClosed) {
      this.carrierClosed = true;
      this.carrier.close(WsCloseCode.unexpected, reason);
    }
    if (!this.socket.destroyed) resetConnection(this.socket);
  }

  private fromSocket(chunk: Buffer): void {
    if (this.carrierClosed) return;
    for (let offset = 0; offset < chunk.length; offset += MAX_RELAY_MESSAGE) {
      this.carrier.sendBinary(offset === 0 && chunk.length <= MAX_RELAY_MESSAGE ? chunk : chunk.subarray(offset, offset + MAX_RELAY_MESSAGE));
    }
    this.unacknowledged += chunk.length;
    if (this.unacknowledged >= RELAY_WINDOW && !this.pausedForCredit) {
      this.pausedForCredit = true;
      this.socket.pause();
    }
  }

  private taken(bytes: number): void {
    this.writing -= bytes;
    this.creditOwed += bytes;
    if (this.carrierClosed || (this.creditOwed < CREDIT_BATCH && this.writing > 0)) return;
    this.carrier.sendText(`c${this.creditOwed}`);
    this.creditOwed = 0;
    this.closeIfDone();
  }

  private socketEnded(): void {
    if (this.carrierClosed) return;
    this.localEnded = true;
    this.carrier.sendText(END);
    this.closeIfDone();
  }

  /** Both sides ended, this socket took every byte the other node sent and the other node's every byte this one sent: the orderly close. */
  private closeIfDone(): void {
    if (!this.localEnded || !this.remoteEnded || this.writing > 0 || this.unacknowledged > 0 || this.carrierClosed) return;
    this.carrierClosed = true;
    this.carrier.close(WsCloseCode.normal, 'connection ended');
  }

  private socketClosed(): void {
    if (this.carrierClosed) return;
    if (this.localEnded && this.remoteEnded) return this.closeIfDone();
    this.reset('the connection closed');
  }
}
