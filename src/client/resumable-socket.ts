/*
 * ResumableSocket: the WebSocket API over a resumable session (docs/sessions.md). The session
 * outlives its transports: when one is lost the socket says `detach`, reconnects with jittered
 * backoff until the session's grace runs out, resumes (`resume`) and sends again what the server
 * did not take, so the application sees every message once, in order, and one `open` and one
 * `close` in all.
 */
import { Connector, type SessionKeys } from './connector.js';
import { parseEnd, parseError, type EndBody } from './control.js';
import { closeEvent, DetachEvent, ResumeEvent, type SocketCloseEvent } from './events.js';
import { ACK_DELAY_MS, Inbox } from './inbox.js';
import { resolveOptions, type ResolvedOptions, type ResumableSocketOptions } from './options.js';
import { Outbox } from './outbox.js';
import { decodeAck, isData, RecordError, RecordType, type SessionRecord } from './records.js';
import { ABNORMAL_CLOSURE, AttemptFailure, isFatalSessionCode, PROTOCOL_ERROR, type Handshake, type Transport } from './transport.js';
import { urlPair } from './urls.js';

/** The longest close reason: a close frame's payload is at most 125 bytes (RFC 6455 §5.5). */
const MAX_REASON_BYTES = 123;

type ReadyState = 0 | 1 | 2 | 3;
type Mode = 'open' | 'resume';
type Handler<E extends Event> = ((this: ResumableSocket, event: E) => void) | null;

const encoder = new TextEncoder();
const decoder = new TextDecoder();

export class ResumableSocket extends EventTarget {
  static readonly CONNECTING = 0;
  static readonly OPEN = 1;
  static readonly CLOSING = 2;
  static readonly CLOSED = 3;
  readonly CONNECTING = 0;
  readonly OPEN = 1;
  readonly CLOSING = 2;
  readonly CLOSED = 3;

  /** The bridged URL, in its WebSocket form. */
  readonly url: string;
  onopen: Handler<Event> = null;
  onmessage: Handler<MessageEvent> = null;
  onclose: Handler<SocketCloseEvent> = null;
  onerror: Handler<Event> = null;
  ondetach: Handler<DetachEvent> = null;
  onresume: Handler<ResumeEvent> = null;

  private readonly options: ResolvedOptions;
  private readonly connector: Connector;
  private state: ReadyState = 0;
  private binary: 'arraybuffer' | 'blob' = 'arraybuffer';
  /** The session once its WELCOME has come, and where to resume it. */
  private session: SessionKeys | null = null;
  private readonly outbox = new Outbox();
  private readonly inbox = new Inbox();
  /** The attached transport; null while connecting or detached. */
  private transport: Transport | null = null;
  /** The close() the application asked for, sent as END once everything before it is out. */
  private closeRequest: EndBody | null = null;
  /** The transport the END went out on (a resume sends it again on the next one). */
  private endSentOn: Transport | null = null;
  /** The ERROR the server sent just before closing its transport. */
  private lastError: string | undefined;
  private detachedAt = 0;
  private ackTimer: ReturnType<typeof setTimeout> | undefined;
  /** Bounds close(): a session whose END cannot get through would otherwise resume for its whole grace. */
  private closeTimer: ReturnType<typeof setTimeout> | undefined;
  /** Cancels the running attempts (open or resume). */
  private attempts: AbortController | null = null;

  constructor(url: string, options: ResumableSocketOptions = {}) {
    super();
    const bridged = urlPair(url);
    this.url = bridged.websocket;
    this.options = resolveOptions(options);
    this.connector = new Connector(this.options, bridged);
    // The on… handlers run as listeners registered first, so they see the event's target.
    const handlers = {
      open: () => this.onopen,
      message: () => this.onmessage,
      close: () => this.onclose,
      error: () => this.onerror,
      detach: () => this.ondetach,
      resume: () => this.onresume,
    } as const;
    for (const [type, handler] of Object.entries(handlers)) {
      this.addEventListener(type, (event) => (handler() as Handler<Event>)?.call(this, event));
    }
    void this.connect('open');
  }

  get readyState(): ReadyState {
    return this.state;
  }

  /** Bytes sent and not yet acknowledged by the server, including those queued behind the window. */
  get bufferedAmount(): number {
    return this.outbox.bufferedAmount;
  }

  /** The application subprotocol the backend chose (from the WELCOME); "" before or without one. */
  get protocol(): string {
    return this.session?.welcome.protocol ?? '';
  }

  get extensions(): string {
    return '';
  }

  get binaryType(): 'arraybuffer' | 'blob' {
    return this.binary;
  }

  set binaryType(type: 'arraybuffer' | 'blob') {
    if (type === 'arraybuffer' || (type === 'blob' && typeof Blob === 'function')) this.binary = type;
  }

  /**
   * Queues a message; it goes out within the session's window and again after a resume until
   * the server has it. Messages may be sent before `open`; after close() they are dropped.
   */
  send(data: string | ArrayBuffer | ArrayBufferView): void {
    let type: typeof RecordType.TEXT | typeof RecordType.BINARY;
    let body: Uint8Array;
    if (typeof data === 'string') {
      type = RecordType.TEXT;
      body = encoder.encode(data);
    } else if (data instanceof ArrayBuffer) {
      type = RecordType.BINARY;
      body = new Uint8Array(data.slice(0));
    } else if (ArrayBuffer.isView(data)) {
      type = RecordType.BINARY;
      body = new Uint8Array(data.buffer, data.byteOffset, data.byteLength).slice();
    } else {
      throw new TypeError('send() takes a string, an ArrayBuffer or an ArrayBufferView');
    }
    if (this.state === ResumableSocket.CLOSING || this.state === ResumableSocket.CLOSED) return;
    this.outbox.push(type, body);
    this.pump();
  }

  /**
   * Ends the session: what was sent before goes first, then an END with `code` and `reason`.
   * Before the session exists, it gives up connecting (a close with 1006, as a WebSocket does).
   */
  close(code?: number, reason?: string): void {
    if (code !== undefined && code !== 1000 && !(Number.isInteger(code) && code >= 3000 && code <= 4999)) throw new RangeError(`close code ${code}: only 1000 or 3000–4999`);
    if (reason !== undefined && encoder.encode(reason).length > MAX_REASON_BYTES) throw new SyntaxError(`close reason longer than ${MAX_REASON_BYTES} bytes`);
    if (this.state === ResumableSocket.CLOSING || this.state === ResumableSocket.CLOSED) return;
    if (this.state === ResumableSocket.CONNECTING) {
      this.state = ResumableSocket.CLOSING;
      this.attempts?.abort();
      queueMicrotask(() => this.finish(ABNORMAL_CLOSURE, 'closed before the session was open', false));
      return;
    }
    this.state = ResumableSocket.CLOSING;
    this.closeRequest = { code: code ?? 1000, reason: reason ?? '' };
    const limitMs = this.options.closeTimeoutMs;
    this.closeTimer = setTimeout(() => this.finish(ABNORMAL_CLOSURE, `the session did not end within ${limitMs / 1000} s of close()`, false), limitMs);
    this.pump();
  }

  /** Opens the session, or resumes it, through the connector's attempts. */
  private async connect(mode: Mode): Promise<void> {
    const controller = new AbortController();
    this.attempts = controller;
    const session = this.session;
    const outcome =
      mode === 'open' || session === null
        ? await this.connector.open(controller.signal)
        : await this.connector.resume(session, () => this.inbox.received, this.detachedAt + session.welcome.graceSeconds * 1000, controller.signal);
    if (controller.signal.aborted) {
      if ('handshake' in outcome) outcome.handshake.transport.close();
      return;
    }
    this.attempts = null;
    if ('handshake' in outcome) this.attach(mode, outcome.handshake, outcome.attempts);
    else this.giveUp(mode, outcome.failure, outcome.outOfTime, outcome.attempts);
  }

  private attach(mode: Mode, handshake: Handshake, attempt: number): void {
    const { transport } = handshake;
    if (mode === 'open') {
      const welcome = handshake.welcome;
      if (welcome === undefined || welcome.secret === undefined) {
        transport.close();
        this.finish(PROTOCOL_ERROR, 'a session opened without its WELCOME', false);
        return;
      }
      this.session = { welcome, secret: welcome.secret, urls: this.connector.urlsOf(welcome) };
    } else {
      try {
        this.outbox.rewind(handshake.received);
      } catch (error) {
        transport.close();
        this.finish(PROTOCOL_ERROR, (error as Error).message, false);
        return;
      }
    }
    // The WELCOME's or the first poll's request carried the client's count.
    this.inbox.tell();
    this.transport = transport;
    if (mode === 'open') {
      if (this.state === ResumableSocket.CONNECTING) this.state = ResumableSocket.OPEN;
      this.dispatchEvent(new Event('open'));
    } else {
      this.dispatchEvent(new ResumeEvent({ attempt, transport: transport.kind }));
    }
    if (this.transport !== transport) return;
    transport.attach({ record: (record) => this.onRecord(transport, record), lost: (code, reason) => this.onLost(transport, code, reason) });
    this.pump();
  }

  /** Sends what the window lets through, then the END of a close() once nothing precedes it. */
  private pump(): void {
    const transport = this.transport;
    const session = this.session;
    if (transport === null || session === null) return;
    const { window } = session.welcome;
    if (this.outbox.stuck(window)) {
      // The server refuses more than `window` unacknowledged bytes: such a message never goes.
      const end = { code: 1009, reason: `a message larger than the session window (${window} bytes)` };
      transport.sendEnd(end, this.outbox.endOffset);
      this.finish(end.code, end.reason, false);
      return;
    }
    for (let message = this.outbox.take(window); message !== undefined; message = this.outbox.take(window)) transport.sendData(message);
    if (this.closeRequest !== null && this.outbox.allTransmitted && this.endSentOn !== transport) {
      this.endSentOn = transport;
      transport.sendEnd(this.closeRequest, this.outbox.endOffset);
    }
  }

  private onRecord(transport: Transport, record: SessionRecord): void {
    if (transport !== this.transport) return;
    try {
      if (isData(record.type)) this.onData(transport, record);
      else if (record.type === RecordType.ACK) {
        this.outbox.acknowledge(decodeAck(record.body));
        this.pump();
      } else if (record.type === RecordType.END) {
        const end = parseEnd(record.body);
        this.transport = null;
        transport.finish(this.inbox.tell());
        this.finish(end.code, end.reason, true);
      } else if (record.type === RecordType.ERROR) {
        const error = parseError(record.body);
        this.lastError = `${error.error}: ${error.message}`;
      } else throw new RecordError(`unexpected record 0x${record.type.toString(16)}`);
    } catch (error) {
      if (!(error instanceof RecordError)) throw error;
      this.transport = null;
      transport.close();
      this.finish(PROTOCOL_ERROR, error.message, false);
    }
  }

  private onData(transport: Transport, record: SessionRecord): void {
    const ackNow = this.inbox.add(record.body.length, this.session?.welcome.ackBytes ?? 1);
    const data = record.type === RecordType.TEXT ? decoder.decode(record.body) : this.binary === 'blob' ? new Blob([record.body.slice()]) : record.body.slice().buffer;
    this.dispatchEvent(new MessageEvent('message', { data }));
    if (this.transport !== transport) return;
    if (ackNow) this.acknowledge();
    else this.ackTimer ??= setTimeout(() => this.acknowledge(), ACK_DELAY_MS);
  }

  private acknowledge(): void {
    clearTimeout(this.ackTimer);
    this.ackTimer = undefined;
    if (this.transport !== null && this.inbox.owed) this.transport.acknowledge(this.inbox.tell());
  }

  private onLost(transport: Transport, code: number, reason: string): void {
    if (transport !== this.transport) return;
    this.transport = null;
    clearTimeout(this.ackTimer);
    this.ackTimer = undefined;
    const why = this.lastError ?? reason;
    this.lastError = undefined;
    const ended = this.closeRequest !== null && this.endSentOn === transport;
    if (ended && (code === 1000 || code === 1005)) {
      this.finish(this.closeRequest?.code ?? 1000, this.closeRequest?.reason ?? '', true);
    } else if (isFatalSessionCode(code) || code === PROTOCOL_ERROR) {
      this.finish(code, why, false);
    } else {
      this.detachedAt = Date.now();
      this.dispatchEvent(new DetachEvent({ transport: transport.kind, code, reason: why }));
      if (this.state !== ResumableSocket.CLOSED) void this.connect('resume');
    }
  }

  private giveUp(mode: Mode, failure: AttemptFailure | undefined, outOfTime: boolean, attempts: number): void {
    const why = `${attempts} attempt${attempts === 1 ? '' : 's'}, the last: ${failure?.message ?? 'none'}`;
    if (mode === 'open') {
      this.finish(failure?.fatal === true && failure.code !== ABNORMAL_CLOSURE ? failure.code : ABNORMAL_CLOSURE, `could not open the session (${why})`, false);
    } else if (failure?.code === 4404 && this.endSentOn !== null) {
      // The END went out before the transport was lost, and the session has ended since.
      this.finish(this.closeRequest?.code ?? 1000, this.closeRequest?.reason ?? '', true);
    } else if (failure?.fatal === true) {
      this.finish(failure.code, failure.message, false);
    } else {
      // Past its grace the server has forgotten the session: as good as its 4404.
      const limit = outOfTime ? `within ${this.session?.welcome.graceSeconds ?? 0} s` : `in ${this.options.maxRetries + 1} attempts`;
      this.finish(4404, `could not resume ${limit} (${why})`, false);
    }
  }

  /** The end, whichever way it came: one `close` event (after an `error` when it was not clean). */
  private finish(code: number, reason: string, wasClean: boolean): void {
    if (this.state === ResumableSocket.CLOSED) return;
    this.state = ResumableSocket.CLOSED;
    this.attempts?.abort();
    this.attempts = null;
    clearTimeout(this.ackTimer);
    this.ackTimer = undefined;
    clearTimeout(this.closeTimer);
    this.closeTimer = undefined;
    this.transport?.close();
    this.transport = null;
    if (!wasClean) this.dispatchEvent(new Event('error'));
    this.dispatchEvent(closeEvent({ code, reason, wasClean }));
  }
}
