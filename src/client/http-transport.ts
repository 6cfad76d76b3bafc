/*
 * A session driven over HTTP (docs/sessions.md, "HTTP transport"): one long poll at a time
 * brings the server's records and, through its `received=N`, acknowledges them; one POST at a
 * time carries the client's records from a stated data offset, so a POST repeated after a
 * failure is harmless (the server skips what it has).
 */
import { encodeEnd, type EndBody } from './control.js';
import { request, RequestFailure, type FetchLike } from './fetch-like.js';
import type { OutMessage } from './outbox.js';
import { decodeAck, decodeStreamRecords, encodeStreamRecords, isData, RecordError, RecordType, type SessionRecord } from './records.js';
import { PROTOCOL_ERROR, type Transport, type TransportCallbacks } from './transport.js';

/** Seconds a poll waits for output (the server's default, under its limit of 30). */
const POLL_WAIT_SECONDS = 25;
/** How long past its wait a poll may take before the transport counts as lost. */
const POLL_SLACK_MS = 15_000;
/** How long a POST may take. */
const SEND_TIMEOUT_MS = 30_000;
const HEADER_BYTES = 5;

export interface HttpSession {
  readonly fetch: FetchLike;
  /** `http(s)://host:port<path>/<session>` */
  readonly url: string;
  readonly secret: string;
  /** The largest POST body the server takes. */
  readonly window: number;
}

interface Outgoing {
  readonly record: SessionRecord;
  /** Data offset where the record stands. */
  readonly start: number;
}

export class HttpTransport implements Transport {
  readonly kind = 'http';
  private callbacks: TransportCallbacks | null = null;
  private backlog: SessionRecord[] = [];
  private readonly outgoing: Outgoing[] = [];
  private posting = false;
  private closed = false;
  private readonly controller = new AbortController();

  /** `received`: data bytes the client has from the server; polls go on from there. */
  constructor(
    private readonly session: HttpSession,
    private received: number,
  ) {}

  /**
   * A poll that does not wait: what the server has for the client goes to the backlog, and the
   * answer's ACK tells how much the server has from the client. This is the HTTP resume.
   */
  async probe(timeoutMs: number, signal: AbortSignal): Promise<number> {
    const records = await this.poll(0, timeoutMs, signal);
    let serverHas: number | undefined;
    for (const record of records) {
      if (record.type === RecordType.ACK) serverHas = decodeAckOrFail(record);
      else this.backlog.push(record);
    }
    if (serverHas === undefined) throw new RequestFailure(PROTOCOL_ERROR, 'a poll answer without an ACK', 200);
    return serverHas;
  }

  attach(callbacks: TransportCallbacks): void {
    this.callbacks = callbacks;
    const backlog = this.backlog;
    this.backlog = [];
    for (const record of backlog) {
      if (this.closed) return;
      callbacks.record(record);
    }
    void this.pollLoop();
    this.flush();
  }

  sendData(message: OutMessage): void {
    this.outgoing.push({ record: { type: message.type, body: message.body }, start: message.start });
    this.flush();
  }

  sendEnd(end: EndBody, offset: number): void {
    this.outgoing.push({ record: { type: RecordType.END, body: encodeEnd(end) }, start: offset });
    this.flush();
  }

  acknowledge(): void {
    // Every poll says `received=N`: the count goes with the next one, which follows each answer.
  }

  finish(): void {
    // The server ended the session and the client has all of it: DELETE lets it go at once
    // instead of at the end of the grace period. Its answer changes nothing.
    const session = this.session;
    this.close();
    void request(session.fetch, session.url, { method: 'DELETE', headers: this.headers(), timeoutMs: SEND_TIMEOUT_MS, signal: new AbortController().signal }).catch(() => undefined);
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.controller.abort();
  }

  /**
   * Every request may take the session over: this client has one transport at a time, so
   * whatever is attached is an older one of its own that the server has not seen die yet.
   */
  private headers(): Record<string, string> {
    return { authorization: `Bearer ${this.session.secret}`, 'websocksy-takeover': '1' };
  }

  private async poll(waitSeconds: number, timeoutMs: number, signal: AbortSignal): Promise<SessionRecord[]> {
    const url = `${this.session.url}/poll?received=${this.received}&wait=${waitSeconds}`;
    const body = await request(this.session.fetch, url, { method: 'GET', headers: this.headers(), timeoutMs, signal });
    let records: SessionRecord[];
    try {
      records = decodeStreamRecords(body);
    } catch (error) {
      throw new RequestFailure(PROTOCOL_ERROR, (error as Error).message, 200);
    }
    for (const record of records) if (isData(record.type)) this.received += record.body.length;
    return records;
  }

  private async pollLoop(): Promise<void> {
    while (!this.closed) {
      let records: SessionRecord[];
      try {
        records = await this.poll(POLL_WAIT_SECONDS, POLL_WAIT_SECONDS * 1000 + POLL_SLACK_MS, this.controller.signal);
      } catch (error) {
        this.lose(error as RequestFailure);
        return;
      }
      for (const record of records) {
        if (this.closed) return;
        this.callbacks?.record(record);
      }
    }
  }

  /** Sends what is outgoing, one POST at a time, each at most `window` bytes (at least one record). */
  private flush(): void {
    if (this.posting || this.closed || this.callbacks === null || this.outgoing.length === 0) return;
    const first = this.outgoing[0] as Outgoing;
    let count = 0;
    let bytes = 0;
    for (const item of this.outgoing) {
      const size = HEADER_BYTES + item.record.body.length;
      if (count > 0 && bytes + size > this.session.window) break;
      count += 1;
      bytes += size;
    }
    const batch = this.outgoing.splice(0, count);
    this.posting = true;
    const url = `${this.session.url}/send?offset=${first.start}`;
    const body = encodeStreamRecords(batch.map((item) => item.record));
    request(this.session.fetch, url, { method: 'POST', headers: { ...this.headers(), 'content-type': 'application/octet-stream' }, body, timeoutMs: SEND_TIMEOUT_MS, signal: this.controller.signal }).then(
      (answer) => {
        this.posting = false;
        if (this.closed) return;
        let records: SessionRecord[];
        try {
          records = decodeStreamRecords(answer);
        } catch (error) {
          this.lose(new RequestFailure(PROTOCOL_ERROR, (error as Error).message, 200));
          return;
        }
        for (const record of records) if (!this.closed) this.callbacks?.record(record);
        // After an END the server has closed the peer's side: the session is over.
        if (batch.some((item) => item.record.type === RecordType.END)) this.lose(new RequestFailure(1000, 'session ended', 200));
        else this.flush();
      },
      (error: unknown) => {
        this.posting = false;
        this.lose(error as RequestFailure);
      },
    );
  }

  private lose(failure: RequestFailure): void {
    if (this.closed) return;
    this.close();
    this.callbacks?.lost(failure.code, failure.message);
  }
}

function decodeAckOrFail(record: SessionRecord): number {
  try {
    return decodeAck(record.body);
  } catch (error) {
    throw new RequestFailure(PROTOCOL_ERROR, (error as RecordError).message, 200);
  }
}
