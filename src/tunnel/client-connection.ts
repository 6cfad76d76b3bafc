/*
 * One connection attempt of a tunnel client: a WebSocket (lib/websocket-client.ts) that offers the tunnel
 * subprotocol, the hello — sent only when the server's 101 echoes the subprotocol, so that no
 * other WebSocket endpoint (the bridge at a mistyped path, some proxy) ever sees the token —
 * and the handshake answer. After the welcome every message goes to the session. Each socket
 * callback runs behind the guard: a throw drops this connection alone and reports it lost (the
 * client may hold an old connection beside its current one, client.ts). Every frame is masked
 * with a fresh random key (RFC 6455 §5.3).
 */
import { errorMessage } from '../lib/errors.js';
import type { UpstreamTls } from '../lib/tls-upstream.js';
import { WebSocketClient, type WebSocketEnd } from '../lib/websocket-client.js';
import type { LogFields } from '../lib/log.js';
import { TRANSPORT_SEND_BOUND, type Transport } from './mux.js';
import { decodeControl, decodeFrame, encodeJson, FrameType, MAX_FRAME, TUNNEL_SUBPROTOCOL, type ControlMessage } from './protocol.js';
import { checkWelcome, type Welcome } from './welcome.js';

/** What a connection reports to its client; nothing more arrives once it was lost or refused. */
export interface ConnectionHandler {
  readonly logFields: LogFields;
  /** The hello to send now (a resume carries the session's state as of this moment). */
  hello(): ControlMessage;
  welcomed(connection: ClientConnection, welcome: Welcome): void;
  /** The server refused the identity, or is no tunnel endpoint: retrying the same will not help. */
  refused(connection: ClientConnection, reason: string): void;
  /** A message after the welcome; `owned` is false when `data` is valid only during the call. */
  message(connection: ClientConnection, data: Buffer, owned: boolean): void;
  lost(connection: ClientConnection, reason: string): void;
}

export class ClientConnection implements Transport {
  private readonly ws: WebSocketClient;
  private lastHeard = Date.now();
  private opened = false;
  private welcomed = false;
  private over = false;

  constructor(
    private readonly url: string,
    handshakeTimeoutMs: number,
    private readonly handler: ConnectionHandler,
    tls: UpstreamTls,
  ) {
    // Credit bounds the streams' data toward the server as it bounds the server's (mux.ts); past that, the server is not reading.
    const options = { url: new URL(url), protocols: [TUNNEL_SUBPROTOCOL], handshakeTimeoutMs, maxPayload: MAX_FRAME, tls, binaryOnly: true, maxBuffered: TRANSPORT_SEND_BOUND };
    this.ws = new WebSocketClient(options, {
      get logFields() {
        return handler.logFields;
      },
      abortAfterFault: (reason: string) => this.lose(reason),
      opened: (protocol: string) => this.onOpen(protocol),
      message: (data: Buffer, _binary: boolean, owned: boolean) => this.onMessage(data, owned),
      // A websocksy answers 404 to the tunnel subprotocol anywhere but on its tunnel path.
      unexpectedResponse: (status: number, statusText: string) => {
        const answer = `HTTP ${String(status)} ${statusText}`.trim();
        if (status === 404) this.refuse(this.notATunnel(`it answered ${answer}`));
        else this.lose(answer);
      },
      closed: (end: WebSocketEnd) => this.lose(end.why),
    });
  }

  /** How long the server has been silent. */
  get silentMs(): number {
    return Date.now() - this.lastHeard;
  }

  send(frame: Buffer): void {
    if (this.opened && !this.over) this.ws.send(frame);
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

  /** Fails the connection when the server has been silent past `timeoutMs`; true if it did. */
  failIfSilent(timeoutMs: number): boolean {
    if (this.silentMs <= timeoutMs) return false;
    this.fail(`no answer for ${timeoutMs} ms`);
    return true;
  }

  private onOpen(protocol: string): void {
    if (protocol !== TUNNEL_SUBPROTOCOL) {
      this.refuse(this.notATunnel(`it did not accept the ${TUNNEL_SUBPROTOCOL} subprotocol`));
      return;
    }
    this.opened = true;
    this.send(encodeJson(FrameType.control, 0, this.handler.hello()));
  }

  private notATunnel(why: string): string {
    return `${this.url} is not a websocksy tunnel endpoint (${why}); the token was not sent`;
  }

  private onMessage(data: Buffer, owned: boolean): void {
    if (this.over) return;
    this.lastHeard = Date.now();
    if (this.welcomed) this.handler.message(this, data, owned);
    else this.onHandshakeMessage(data);
  }

  private onHandshakeMessage(data: Buffer): void {
    let message: ControlMessage;
    try {
      const frame = decodeFrame(data);
      if (frame.type !== FrameType.control) throw new Error(`frame type ${frame.type} before the welcome`);
      message = decodeControl(frame.body);
      if (message.type === 'welcome') checkWelcome(message);
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
