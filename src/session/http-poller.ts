/*
 * A session's HTTP transport (docs/sessions.md "HTTP transport"): the client polls for output
 * and posts its input. The poller is attached while polls keep coming; one poll waits at a
 * time, answered as soon as there is something to say (batched to the end of the loop turn,
 * so the frames of one peer read go in one answer) or when its wait is over. A client that
 * stops polling for IDLE_MS detaches, as a dropped WebSocket would.
 */
import type { ClientResponse } from '../http/client-response.js';
import { runGuarded } from '../lib/guard.js';
import { httpRecordHeader } from './records.js';
import type { Session, SessionTransport } from './session.js';

/** An answer carries at most this much of the replay log; the next poll gets the rest. */
const ANSWER_BUDGET = 1024 * 1024;
/** No poll for this long after an answer: the client is gone. */
export const IDLE_MS = 10_000;

interface WaitingPoll {
  readonly response: ClientResponse;
  readonly received: number;
  readonly timer: NodeJS.Timeout;
}

export class HttpPoller implements SessionTransport {
  readonly kind = 'http';
  readonly queued = 0;
  private waiting: WaitingPoll | null = null;
  private answerScheduled = false;
  private idleTimer: NodeJS.Timeout | null = null;
  private ended = false;

  constructor(private readonly session: Session) {}

  /** A poll that waits up to `waitMs` for what comes after the client's `received`. */
  poll(response: ClientResponse, received: number, waitMs: number): void {
    this.clearIdle();
    if (this.waiting !== null) this.answer();
    const timer = setTimeout(() => runGuarded(this.session, 'session poll wait', () => this.answer()), waitMs);
    this.waiting = { response, received, timer };
    response.whenAborted(() => this.pollAborted(response));
    if (this.ended || this.session.log.sent > received || this.session.pendingEnd !== null) this.scheduleAnswer();
  }

  /** A POST or a poll keeps the attachment; so does any request the client makes. */
  touch(): void {
    if (this.waiting === null) this.startIdle();
  }

  deliver(): void {
    if (this.waiting !== null) this.scheduleAnswer();
  }

  batch(body: () => void): void {
    body();
  }

  end(): void {
    this.ended = true;
    this.clearIdle();
    if (this.waiting !== null) this.answer();
  }

  private scheduleAnswer(): void {
    if (this.answerScheduled) return;
    this.answerScheduled = true;
    setImmediate(() => runGuarded(this.session, 'session poll answer', () => this.answer()));
  }

  private pollAborted(response: ClientResponse): void {
    if (this.waiting?.response !== response) return;
    clearTimeout(this.waiting.timer);
    this.waiting = null;
    this.startIdle();
  }

  /** Answers the waiting poll: data records after its `received`, the END once all data is in, and an ACK. */
  private answer(): void {
    this.answerScheduled = false;
    const waiting = this.waiting;
    if (waiting === null) return;
    this.waiting = null;
    clearTimeout(waiting.timer);
    const { response, received } = waiting;
    if (!response.usable) return;
    const records = this.session.log.takeAfter(received, ANSWER_BUDGET);
    const end = this.session.pendingEnd;
    const last = records.length === 0 ? received : received + dataLength(records);
    if (end !== null && last === this.session.log.sent) records.push(end);
    records.push(this.session.ackForPoll());
    const parts: Buffer[] = [];
    for (const record of records) parts.push(httpRecordHeader(record), record.subarray(1));
    const body = Buffer.concat(parts);
    response.ended = true;
    response.res.cork(() => {
      response.res.writeStatus('200 OK').writeHeader('Content-Type', 'application/octet-stream').writeHeader('Cache-Control', 'no-store').end(body);
    });
    if (!this.ended) this.startIdle();
  }

  private startIdle(): void {
    this.clearIdle();
    if (this.ended) return;
    this.idleTimer = setTimeout(() => runGuarded(this.session, 'session poll idle', () => this.session.detach(this, `no poll within ${IDLE_MS / 1000} s`)), IDLE_MS);
  }

  private clearIdle(): void {
    if (this.idleTimer !== null) clearTimeout(this.idleTimer);
    this.idleTimer = null;
  }
}

/** Data bytes in `records` (each a data record: type byte and body). */
function dataLength(records: readonly Buffer[]): number {
  let total = 0;
  for (const record of records) total += record.length - 1;
  return total;
}
