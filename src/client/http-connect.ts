/*
 * One HTTP attempt: open a session with `POST <bridged URL>` and `Websocksy-Session: open`, or
 * resume one with a poll that does not wait. Answers map to the same close codes as a
 * WebSocket attempt's (4403, 4404, …), so the session treats both transports alike.
 */
import { parseWelcome, type Welcome } from './control.js';
import { request, RequestFailure, type FetchLike } from './fetch-like.js';
import { HttpTransport, type HttpSession } from './http-transport.js';
import { RecordError } from './records.js';
import { ABNORMAL_CLOSURE, AttemptFailure, isFatalSessionCode, PROTOCOL_ERROR, type Handshake } from './transport.js';

export interface HttpOpenAttempt {
  readonly fetch: FetchLike;
  /** The bridged URL in its http(s) form. */
  readonly url: string;
  readonly protocols: readonly string[];
  /** Where the session this WELCOME describes is driven: `http(s)://host:port<path>/<session>`. */
  sessionUrl(welcome: Welcome): string;
  readonly timeoutMs: number;
  readonly signal: AbortSignal;
}

export async function openHttp(attempt: HttpOpenAttempt): Promise<Handshake> {
  const headers: Record<string, string> = { 'websocksy-session': 'open' };
  if (attempt.protocols.length > 0) headers['websocksy-protocol'] = attempt.protocols.join(', ');
  let welcome: Welcome;
  try {
    const body = await request(attempt.fetch, attempt.url, { method: 'POST', headers, timeoutMs: attempt.timeoutMs, signal: attempt.signal });
    welcome = parseWelcome(body);
  } catch (error) {
    if (error instanceof RecordError) throw new AttemptFailure(PROTOCOL_ERROR, error.message, true);
    const failure = error as RequestFailure;
    // A 4xx is the server's considered answer (409: the peer is not resumable); a 5xx or no
    // answer may pass.
    const fatal = failure.status >= 400 && failure.status < 500;
    throw new AttemptFailure(ABNORMAL_CLOSURE, failure.message, fatal || attempt.signal.aborted);
  }
  const session: HttpSession = { fetch: attempt.fetch, url: attempt.sessionUrl(welcome), secret: welcome.secret ?? '', window: welcome.window };
  return { transport: new HttpTransport(session, 0), received: welcome.received, welcome };
}

export interface HttpResumeAttempt {
  readonly session: HttpSession;
  /** Data bytes the client has from the server. */
  readonly received: number;
  readonly timeoutMs: number;
  readonly signal: AbortSignal;
}

export async function resumeHttp(attempt: HttpResumeAttempt): Promise<Handshake> {
  const transport = new HttpTransport(attempt.session, attempt.received);
  try {
    const received = await transport.probe(attempt.timeoutMs, attempt.signal);
    return { transport, received, welcome: undefined };
  } catch (error) {
    transport.close();
    const failure = error as RequestFailure;
    throw new AttemptFailure(failure.code, failure.message, isFatalSessionCode(failure.code) || failure.code === PROTOCOL_ERROR || attempt.signal.aborted);
  }
}
