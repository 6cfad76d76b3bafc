/*
 * One WebSocket attempt, to open a session (the bridged URL) or to resume one (the session path,
 * with a HELLO), up to its WELCOME. The answer tells a failure that ends the session (an ERROR
 * and a 44xx close) from one that a later attempt, or the HTTP transport, may get past.
 */
import { encodeHello, parseError, parseWelcome, SESSION_SUBPROTOCOL, type Hello } from './control.js';
import { decodeMessageRecord, encodeMessageRecord, RecordError, RecordType, type SessionRecord } from './records.js';
import { ABNORMAL_CLOSURE, AttemptFailure, isFatalSessionCode, PROTOCOL_ERROR, type Handshake } from './transport.js';
import { messageBytes, type WebSocketCloseLike, type WebSocketConstructor, type WebSocketLike, type WebSocketMessageLike } from './websocket-like.js';
import { WebSocketTransport } from './websocket-transport.js';

export interface WebSocketAttempt {
  readonly WebSocket: WebSocketConstructor;
  readonly url: string;
  /** The application's subprotocols, offered after the session's own. */
  readonly protocols: readonly string[];
  /** Resumes with this HELLO; opens a new session without one. */
  readonly hello: Hello | undefined;
  readonly timeoutMs: number;
  readonly signal: AbortSignal;
}

export function connectWebSocket(attempt: WebSocketAttempt): Promise<Handshake> {
  return new Promise((resolve, reject) => {
    let socket: WebSocketLike;
    try {
      socket = new attempt.WebSocket(attempt.url, [SESSION_SUBPROTOCOL, ...attempt.protocols]);
    } catch (error) {
      reject(new AttemptFailure(ABNORMAL_CLOSURE, `WebSocket: ${(error as Error).message}`, true));
      return;
    }
    socket.binaryType = 'arraybuffer';
    let settled = false;
    let opened = false;
    let refusal: string | undefined;

    const settle = (outcome: Handshake | AttemptFailure): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      attempt.signal.removeEventListener('abort', abort);
      if (outcome instanceof AttemptFailure) {
        socket.close(1000);
        reject(outcome);
      } else resolve(outcome);
    };
    const abort = (): void => settle(new AttemptFailure(ABNORMAL_CLOSURE, 'attempt cancelled', true));
    const timer = setTimeout(() => settle(new AttemptFailure(ABNORMAL_CLOSURE, `no WELCOME within ${attempt.timeoutMs} ms`, false, !opened)), attempt.timeoutMs);
    attempt.signal.addEventListener('abort', abort);

    socket.addEventListener('open', () => {
      if (settled) return;
      opened = true;
      // A server that does not select the session subprotocol made a plain bridge: the peer
      // is not resumable, and no later attempt changes that.
      if (socket.protocol !== SESSION_SUBPROTOCOL) settle(new AttemptFailure(ABNORMAL_CLOSURE, 'the server made no session (the peer is not resumable)', true));
      else if (attempt.hello !== undefined) socket.send(encodeMessageRecord(RecordType.HELLO, encodeHello(attempt.hello)));
    });
    socket.addEventListener('message', (event: WebSocketMessageLike) => {
      if (settled) return;
      try {
        const bytes = messageBytes(event.data);
        if (bytes === undefined) throw new RecordError('a text message where records are binary');
        const record: SessionRecord = decodeMessageRecord(bytes);
        if (record.type === RecordType.ERROR) {
          const error = parseError(record.body);
          refusal = `${error.error}: ${error.message}`;
          return;
        }
        if (record.type !== RecordType.WELCOME) throw new RecordError(`record 0x${record.type.toString(16)} before the WELCOME`);
        const welcome = parseWelcome(record.body);
        settle({ transport: new WebSocketTransport(socket), received: welcome.received, welcome });
      } catch (error) {
        settle(new AttemptFailure(PROTOCOL_ERROR, (error as Error).message, true));
      }
    });
    socket.addEventListener('close', (event: WebSocketCloseLike) => {
      const reason = refusal ?? (event.reason || `closed with ${event.code} before the WELCOME`);
      settle(new AttemptFailure(event.code, reason, isFatalSessionCode(event.code), !opened));
    });
    socket.addEventListener('error', () => {
      // A close event follows every error; it carries the code.
    });
  });
}
