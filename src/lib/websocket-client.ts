/*
 * websocksy's own WebSocket client (RFC 6455, client side), for the tunnel client's connection
 * and a `websocket` route's upstream, in place of `ws`: the frames are masked straight into
 * recycled staging buffers (ws-frame-writer.ts), and over ws:// the socket reads into the
 * process's shared read buffer (shared-read.ts), so that a message is handed on where it lies
 * (ws-frame-reader.ts). `ws` allocated a masked copy of every message it sent and a fresh buffer
 * for every socket read: a relay or tunnel that sat idle first then ran a major collection after
 * nearly every scavenge, at half its throughput (bench/README.md).
 *
 * The opening handshake is node:http's upgrade (so wss:// with the configured verification,
 * a URL's user info as Basic authorization, a `lookup` that holds the name to an allow-list and
 * a connection of the caller's making all work as they do for HTTP): the 101 must carry
 * `Upgrade: websocket`, the right Sec-WebSocket-Accept, no extension (none is offered) and
 * either no subprotocol or one that was offered. Pings are answered; a close frame from the
 * server is answered and reported with its code and reason; a close from this side waits for
 * the server's answer, a bounded time. A server that breaks the protocol gets a close frame
 * with the code that says how, and the connection ends. Every callback from node:http and the
 * socket runs behind the guard, owned by the caller's handler.
 */
import { isUtf8 } from 'node:buffer';
import { randomBytes } from 'node:crypto';
import { request as httpRequest, type ClientRequest, type IncomingMessage, type OutgoingHttpHeaders, type RequestOptions } from 'node:http';
import { request as httpsRequest } from 'node:https';
import type { LookupFunction } from 'node:net';
import type { Duplex } from 'node:stream';
import { sendableCloseCode } from './close-code.js';
import { guarded, type Guarded } from './guard.js';
import { connectSharedRead } from './shared-read.js';
import { verifiedConnection, type UpstreamTls } from './tls-upstream.js';
import { websocketAccept } from './websocket-accept.js';
import { FrameReader, Opcode, ViolationCode, type FrameSink } from './ws-frame-reader.js';
import { FrameWriter } from './ws-frame-writer.js';

/** No close frame was received (RFC 6455 §7.1.5). */
export const ABNORMAL_CLOSURE = 1006;
/** The `why` of a connection that ended without a close frame and without an error. */
export const DROPPED = `connection closed (${ABNORMAL_CLOSURE})`;
/** A close frame without a status code. */
export const NO_STATUS = 1005;
/** How long a close this side began waits for the server to answer and end the connection. */
const CLOSE_WAIT_MS = 5000;
/** How long, after answering the server's close, it has to end the connection. */
const ANSWERED_CLOSE_WAIT_MS = 1000;

/** How a connection ended: a close frame's code and reason, or 1006 and what went wrong. */
export interface WebSocketEnd {
  readonly code: number;
  /** The close frame's reason (empty when none, or for 1006). */
  readonly reason: string;
  /** What happened, in words, for a log or an error. */
  readonly why: string;
  /** What failed, when something did before the connection opened (a refused lookup, TLS). */
  readonly error: Error | null;
}

/** What the connection reports; nothing more once `closed` was called. */
export interface WebSocketClientEvents extends Guarded {
  /** The 101 was right; `protocol` is the subprotocol the server chose, '' for none. */
  opened(protocol: string): void;
  /** One whole message; `owned` is false when `data` is valid only during the call. */
  message(data: Buffer, binary: boolean, owned: boolean): void;
  /** The server answered the upgrade with something other than 101. */
  unexpectedResponse(status: number, statusText: string): void;
  closed(end: WebSocketEnd): void;
}

/** node:http's createConnection that calls back with the socket (a PROXY header first, say). */
export type CreateConnection = (options: unknown, done: (error: Error | null, socket: Duplex) => void) => undefined;

export interface WebSocketClientOptions {
  readonly url: URL;
  /** Offered in Sec-WebSocket-Protocol, in this order; none: the header is left out. */
  readonly protocols: readonly string[];
  /** More request headers (a relay's forwarded ones); the handshake's own are set over them. */
  readonly headers?: Readonly<OutgoingHttpHeaders>;
  readonly handshakeTimeoutMs: number;
  /** The largest message accepted, all its fragments together. */
  readonly maxPayload: number;
  readonly tls: UpstreamTls;
  readonly lookup?: LookupFunction;
  /** ws:// only: the connection comes from here instead of a plain connect. */
  readonly createConnection?: CreateConnection;
  /** Text and fragmented messages are protocol errors (a tunnel server only sends whole binary ones). */
  readonly binaryOnly?: boolean;
  /**
   * Bytes that may wait to go to the server. Past it the connection fails: the server does not
   * read, and what it makes this side send regardless (the answers to its pings) would pile up
   * in memory without end. None: the caller bounds what it sends itself.
   */
  readonly maxBuffered?: number;
}

export class WebSocketClient implements FrameSink {
  private readonly request: ClientRequest;
  private socket: Duplex | null = null;
  private reader: FrameReader | null = null;
  private writer: FrameWriter | null = null;
  private state: 'connecting' | 'open' | 'closing' | 'over' = 'connecting';
  private readonly key = randomBytes(16).toString('base64');
  /** ws:// on a plain connection reads into the shared buffer: its chunks are valid only during the call. */
  private readonly transientReads: boolean;
  /**
   * The whole opening handshake, the connect included, must be over within handshakeTimeoutMs
   * of the start. A deadline, not node:http's idle timeout: a server that trickles its answer,
   * never silent for that long, would otherwise hold the upgrade for as long as it likes.
   */
  private handshakeTimer: NodeJS.Timeout | null;

  constructor(
    private readonly options: WebSocketClientOptions,
    private readonly events: WebSocketClientEvents,
  ) {
    const { url } = options;
    const secure = url.protocol === 'wss:';
    const host = url.hostname.replace(/^\[(.*)\]$/, '$1');
    const port = url.port === '' ? (secure ? 443 : 80) : Number(url.port);
    const lookup = options.lookup;
    this.transientReads = !secure && options.createConnection === undefined;
    const headers: OutgoingHttpHeaders = {
      ...options.headers,
      Connection: 'Upgrade',
      Upgrade: 'websocket',
      'Sec-WebSocket-Version': '13',
      'Sec-WebSocket-Key': this.key,
    };
    if (options.protocols.length > 0) headers['Sec-WebSocket-Protocol'] = options.protocols.join(', ');
    const plain = (): Duplex => connectSharedRead({ host, port, ...(lookup === undefined ? {} : { lookup }) });
    const createConnection = secure ? verifiedConnection(options.tls) : (options.createConnection ?? plain);
    const request: RequestOptions = {
      host,
      port,
      path: url.pathname + url.search,
      headers,
      // As `ws` did: a URL's user info goes as Basic authorization.
      ...(url.username !== '' || url.password !== '' ? { auth: `${decodeURIComponent(url.username)}:${decodeURIComponent(url.password)}` } : {}),
      ...(lookup === undefined ? {} : { lookup }),
      // node:http also takes a socket through a callback; its typing knows only the returned one.
      createConnection: createConnection as unknown as RequestOptions['createConnection'],
    };
    this.request = (secure ? httpsRequest : httpRequest)(request);
    this.handshakeTimer = setTimeout(guarded(events, 'websocket handshake timeout', () => this.fail(`opening handshake timed out (not over within ${options.handshakeTimeoutMs} ms)`)), options.handshakeTimeoutMs);
    this.request.on('error', guarded(events, 'websocket request error', (error: Error) => this.fail(error.message, error)));
    this.request.on('response', guarded(events, 'websocket answer', (response: IncomingMessage) => {
      response.resume();
      this.handshakeOver();
      if (this.state !== 'connecting') return;
      this.state = 'over';
      this.request.destroy();
      events.unexpectedResponse(response.statusCode ?? 0, response.statusMessage ?? '');
    }));
    this.request.on('upgrade', guarded(events, 'websocket upgrade', (response: IncomingMessage, socket: Duplex, head: Buffer) => this.onUpgrade(response, socket, head)));
    this.request.end();
  }

  get isOpen(): boolean {
    return this.state === 'open';
  }

  /** Bytes sent but not yet handed to the kernel. */
  get bufferedAmount(): number {
    return this.writer?.buffered ?? 0;
  }

  /** One message; `data` is read during the call only. */
  send(data: Uint8Array, binary = true): void {
    if (this.state !== 'open') return;
    this.writer?.send(binary ? Opcode.binary : Opcode.text, data);
    this.failIfOverBuffered();
  }

  /** Past maxBuffered, the server is not reading: the connection is cut, since a close frame would wait behind the rest. */
  private failIfOverBuffered(): void {
    const limit = this.options.maxBuffered;
    const buffered = this.writer?.buffered ?? 0;
    if (limit === undefined || buffered <= limit) return;
    const socket = this.socket;
    this.fail(`the server does not read: ${buffered} bytes wait to go to it, over the ${limit} allowed`);
    socket?.destroy();
  }

  /** Stops reading from the server (what it sends waits in the kernel, then in its own buffers). */
  pause(): void {
    this.socket?.pause();
  }

  resume(): void {
    this.socket?.resume();
  }

  /** Begins the closing handshake: the close frame goes out, the server's answer ends the connection. */
  close(code?: number, reason = ''): void {
    if (this.state !== 'open') {
      if (this.state === 'connecting') this.terminate();
      return;
    }
    this.state = 'closing';
    this.writer?.send(Opcode.close, closePayload(code, reason));
    this.writer?.flush();
    this.cutAfter(CLOSE_WAIT_MS);
  }

  /** Drops the connection; nothing more is reported. */
  terminate(): void {
    this.handshakeOver();
    this.state = 'over';
    this.request.destroy();
    this.socket?.destroy();
    this.reader?.stop();
    this.writer?.stop();
  }

  private onUpgrade(response: IncomingMessage, socket: Duplex, head: Buffer): void {
    this.handshakeOver();
    if (this.state !== 'connecting') {
      socket.destroy();
      return;
    }
    this.socket = socket;
    if ('setNoDelay' in socket && typeof socket.setNoDelay === 'function') socket.setNoDelay(true);
    const wrong = this.wrongAnswer(response);
    if (wrong !== null) return this.fail(`the server answered 101 ${wrong}`);
    const { events } = this;
    this.reader = new FrameReader({ maxPayload: this.options.maxPayload, binaryOnly: this.options.binaryOnly === true, transientReads: this.transientReads }, this);
    this.writer = new FrameWriter(socket, events);
    socket.on('data', guarded(events, 'websocket data', (chunk: Buffer) => this.reader?.feed(chunk)));
    socket.on('error', guarded(events, 'websocket socket error', (error: Error) => this.fail(error.message)));
    socket.on('close', guarded(events, 'websocket socket close', () => this.fail(DROPPED)));
    this.state = 'open';
    events.opened(chosenProtocol(response));
    if (this.state === 'open' && head.length > 0) this.reader.feed(head);
  }

  private handshakeOver(): void {
    if (this.handshakeTimer === null) return;
    clearTimeout(this.handshakeTimer);
    this.handshakeTimer = null;
  }

  /** What is wrong with a 101, or null. */
  private wrongAnswer(response: IncomingMessage): string | null {
    const { headers } = response;
    if (String(headers.upgrade).toLowerCase() !== 'websocket') return 'without "Upgrade: websocket"';
    if (headers['sec-websocket-accept'] !== websocketAccept(this.key)) return 'with a wrong Sec-WebSocket-Accept';
    if (headers['sec-websocket-extensions'] !== undefined) return 'with extensions, where none was offered';
    const chosen = chosenProtocol(response);
    if (chosen !== '' && !this.options.protocols.includes(chosen)) return `choosing the subprotocol "${chosen}", which was not offered`;
    return null;
  }

  // ---- FrameSink: what the reader found ----

  message(data: Buffer, binary: boolean, owned: boolean): void {
    if (this.state === 'open') this.events.message(data, binary, owned);
  }

  control(opcode: Opcode, payload: Buffer): void {
    if (opcode === Opcode.ping) {
      if (this.state !== 'open') return;
      this.writer?.send(Opcode.pong, payload);
      this.failIfOverBuffered();
      return;
    }
    if (opcode !== Opcode.close) return;
    const parsed = parseClose(payload);
    if (typeof parsed === 'string') {
      this.violation(ViolationCode.protocol, parsed);
      return;
    }
    if (this.state === 'open') {
      // Answer with the same code and let the server end the TCP connection (§5.5.1).
      this.writer?.send(Opcode.close, payload.length >= 2 ? payload.subarray(0, 2) : Buffer.alloc(0));
    }
    this.writer?.flush();
    this.socket?.end();
    this.reader?.stop();
    this.cutAfter(ANSWERED_CLOSE_WAIT_MS);
    this.end({ code: parsed.code, reason: parsed.reason, why: `connection closed (${parsed.code}${parsed.reason === '' ? '' : ` ${parsed.reason}`})`, error: null });
  }

  violation(code: ViolationCode, why: string): void {
    if (this.state === 'over') return;
    // Say why in a close frame and half-close. What the server still sends is read and dropped
    // (the reader has stopped): a socket closed with unread bytes would answer with a reset, which
    // may take the close frame with it. A server that does not close in time is cut.
    if (this.state === 'open') {
      this.writer?.send(Opcode.close, closePayload(code, ''));
      this.writer?.flush();
    }
    this.socket?.end();
    this.cutAfter(CLOSE_WAIT_MS);
    this.end({ code: ABNORMAL_CLOSURE, reason: '', why: `WebSocket protocol error: ${why}`, error: null }, true);
  }

  /** Destroys the socket if the server has not ended the connection within `ms`. */
  private cutAfter(ms: number): void {
    const socket = this.socket;
    setTimeout(guarded(this.events, 'websocket close wait', () => socket?.destroy()), ms).unref();
  }

  /** Reports the end once and drops the connection (after what is already written). */
  private fail(why: string, error: Error | null = null): void {
    if (this.state === 'over') return;
    this.end({ code: ABNORMAL_CLOSURE, reason: '', why, error });
  }

  /** `closing`: the socket is being closed gently (a close frame out, the server's end awaited). */
  private end(end: WebSocketEnd, closing = false): void {
    if (this.state === 'over') return;
    this.handshakeOver();
    this.state = 'over';
    // Once upgraded, the request still names the socket: destroying it would cut the close short.
    if (this.socket === null) this.request.destroy();
    this.reader?.stop();
    if (end.code === ABNORMAL_CLOSURE && !closing) {
      this.writer?.stop();
      if (this.socket !== null && this.socket.writableLength === 0) this.socket.destroy();
      else this.socket?.end();
    }
    this.events.closed(end);
  }
}

function chosenProtocol(response: IncomingMessage): string {
  const chosen = response.headers['sec-websocket-protocol'];
  return typeof chosen === 'string' ? chosen.trim() : '';
}

function closePayload(code: number | undefined, reason: string): Buffer {
  if (code === undefined) return Buffer.alloc(0);
  const text = Buffer.from(reason);
  const payload = Buffer.allocUnsafe(2 + text.length);
  payload.writeUInt16BE(code, 0);
  text.copy(payload, 2);
  return payload;
}

/** A close frame's code and reason, or what is wrong with it. */
function parseClose(payload: Buffer): { code: number; reason: string } | string {
  if (payload.length === 0) return { code: NO_STATUS, reason: '' };
  if (payload.length === 1) return 'a close frame of one byte';
  const code = payload.readUInt16BE(0);
  if (!sendableCloseCode(code)) return `a close frame with the code ${code}, which may not be sent`;
  const reason = payload.subarray(2);
  if (!isUtf8(reason)) return 'a close frame whose reason is not UTF-8';
  return { code, reason: reason.toString('utf8') };
}

