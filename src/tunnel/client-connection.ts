/*
 * One connection attempt of a tunnel client: a `ws` WebSocket that offers the tunnel
 * subprotocol, the hello — sent only when the server's 101 echoes the subprotocol, so that no
 * other WebSocket endpoint (the bridge at a mistyped path, some proxy) ever sees the token —
 * and the handshake answer. After the welcome every message goes to the session. Each `ws`
 * callback runs behind the guard, owned by the client: a throw drops this connection, and the
 * client reconnects and resumes. `ws` masks every frame with a fresh random key (RFC 6455 §5.3).
 */
import type { IncomingMessage } from 'node:http';
import WebSocket from 'ws';
import { errorMessage } from '../lib/errors.js';
import { wsTlsOptions, type UpstreamTls } from '../lib/tls-upstream.js';
import { guarded, type Guarded } from '../lib/guard.js';
import type { Transport } from './mux.js';
import { decodeControl, decodeFrame, encodeJson, FrameType, MAX_FRAME, TUNNEL_SUBPROTOCOL, type ControlMessage } from './protocol.js';

export type Welcome = Extract<ControlMessage, { type: 'welcome' }>;

/** What a connection reports to its client; nothing more arrives once it was lost or refused. */
export interface ConnectionHandler extends Guarded {
  /** The hello to send now (a resume carries the session's state as of this moment). */
  hello(): ControlMessage;
  welcomed(connection: ClientConnection, welcome: Welcome): void;
  /** The server refused the identity, or is no tunnel endpoint: retrying the same will not help. */
  refused(connection: ClientConnection, reason: string): void;
  /** A message after the welcome. */
  message(connection: ClientConnection, data: Buffer): void;
  lost(connection: ClientConnection, reason: string): void;
}

export class ClientConnection implements Transport {
  private readonly ws: WebSocket;
  private lastHeard = Date.now();
  private welcomed = false;
  private over = false;

  constructor(
    private readonly url: string,
    handshakeTimeoutMs: number,
    private readonly handler: ConnectionHandler,
    tls: UpstreamTls,
  ) {
    const ws = new WebSocket(url, [TUNNEL_SUBPROTOCOL], { perMessageDeflate: false, handshakeTimeout: handshakeTimeoutMs, maxPayload: MAX_FRAME, ...wsTlsOptions(url, tls) });
    ws.binaryType = 'nodebuffer';
    this.ws = ws;
    ws.on('open', guarded(handler, 'tunnel open', () => this.onOpen()));
    ws.on('message', guarded(handler, 'tunnel message', (data: Buffer) => this.onMessage(data)));
    ws.on('unexpected-response', guarded(handler, 'tunnel answer', (_request: unknown, response: IncomingMessage) => {
      const status = `HTTP ${String(response.statusCode)} ${response.statusMessage ?? ''}`.trim();
      // A websocksy answers 404 to the tunnel subprotocol anywhere but on its tunnel path.
      if (response.statusCode === 404) this.refuse(this.notATunnel(`it answered ${status}`));
      else this.lose(status);
    }));
    ws.on('error', guarded(handler, 'tunnel error', (error: Error) => {
      // `ws` fails the handshake itself when the answer lacks the offered subprotocol.
      if (/subprotocol/i.test(error.message)) this.refuse(this.notATunnel(`it did not accept the ${TUNNEL_SUBPROTOCOL} subprotocol`));
      else this.lose(errorMessage(error));
    }));
    ws.on('close', guarded(handler, 'tunnel close', (code: number, reason: Buffer) => {
      this.lose(`connection closed (${code}${reason.length === 0 ? '' : ` ${reason.toString('utf8')}`})`);
    }));
  }

  /** How long the server has been silent. */
  get silentMs(): number {
    return Date.now() - this.lastHeard;
  }

  send(frame: Buffer): void {
    if (this.ws.readyState === WebSocket.OPEN) this.ws.send(frame);
  }

  /** terminate, not close: the connection is presumed dead, and a close handshake could hang. */
  close(): void {
    this.over = true;
    this.ws.terminate();
  }

  /** The connection is unusable (protocol error, silence): drop it and report it lost. */
  fail(reason: string): void {
    this.lose(reason);
  }

  private onOpen(): void {
    if (this.ws.protocol !== TUNNEL_SUBPROTOCOL) {
      this.refuse(this.notATunnel(`it did not accept the ${TUNNEL_SUBPROTOCOL} subprotocol`));
      return;
    }
    this.send(encodeJson(FrameType.control, 0, this.handler.hello()));
  }

  private notATunnel(why: string): string {
    return `${this.url} is not a websocksy tunnel endpoint (${why}); the token was not sent`;
  }

  private onMessage(data: Buffer): void {
    if (this.over) return;
    this.lastHeard = Date.now();
    if (this.welcomed) this.handler.message(this, data);
    else this.onHandshakeMessage(data);
  }

  private onHandshakeMessage(data: Buffer): void {
    let message: ControlMessage;
    try {
      const frame = decodeFrame(data);
      if (frame.type !== FrameType.control) throw new Error(`frame type ${frame.type} before the welcome`);
      message = decodeControl(frame.body);
    } catch (error) {
      this.lose(`bad handshake answer: ${errorMessage(error)}`);
      return;
    }
    if (message.type === 'refuse') this.refuse(String(message.reason));
    else if (message.type !== 'welcome') this.lose(`expected a welcome, got "${message.type}"`);
    else {
      this.welcomed = true;
      this.handler.welcomed(this, message);
    }
  }

  private refuse(reason: string): void {
    if (this.over) return;
    this.close();
    this.handler.refused(this, reason);
  }

  private lose(reason: string): void {
    if (this.over) return;
    this.close();
    this.handler.lost(this, reason);
  }
}
