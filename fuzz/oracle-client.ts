/*
 * The session oracle's client state, whatever transport carries it: its input as records (the
 * marker line, then slices of the seed's input stream), which of them the server has (WELCOME's
 * `received`, ACKs), and the peer's output checked byte by byte as it arrives. Anything a
 * server keeping docs/sessions.md could not have sent is a violation: the case reports it as
 * an oracle finding.
 */
import { Random } from '../test/helpers/random.js';
import { ByteStream, INPUT_SALT, markerLine, OUTPUT_SALT } from './oracle-stream.js';
import { ackCount, parseJson, R, record, type SessionRecord } from './session-wire.js';

export interface OracleInput {
  readonly outputBytes: number;
  /** Sizes of the input records after the marker. */
  readonly sizes: readonly number[];
}

export class OracleState {
  /** Record bodies in order, the marker first; starts[i] is the data offset where record i begins. */
  readonly inputs: Buffer[] = [];
  readonly types: number[] = [];
  readonly starts: number[] = [];
  readonly inputTotal: number;
  session = '';
  secret = '';
  ackBytes = 4096;
  /** The server's count of this client's data (it never goes down). */
  serverHas = 0;
  /** Index of the next input record to send on the transport now attached. */
  next = 0;
  /** The furthest data offset ever sent. */
  maxSent = 0;
  /** Output bytes received and checked. */
  received = 0;
  /** What this client last acknowledged. */
  acked = 0;
  lastAckAt = 0;
  serverEnd: Record<string, unknown> | null = null;
  /** The first violation seen; the case turns it into an oracle finding. */
  violation: string | null = null;
  private readonly output: ByteStream;

  constructor(
    readonly seed: number,
    readonly plan: OracleInput,
  ) {
    this.output = new ByteStream(seed, OUTPUT_SALT);
    const input = new ByteStream(seed, INPUT_SALT);
    const types = new Random(seed ^ 0x5a5a5a5a);
    let offset = 0;
    for (const body of [markerLine(seed, plan.outputBytes), ...plan.sizes.map((size) => input.next(size))]) {
      this.inputs.push(body);
      this.types.push(types.chance(0.5) ? R.binary : R.text);
      this.starts.push(offset);
      offset += body.length;
    }
    this.inputTotal = offset;
  }

  /** Input bytes after the marker: what the peer must hear. */
  get payloadTotal(): number {
    return this.inputTotal - (this.inputs[0]?.length ?? 0);
  }

  get done(): boolean {
    return this.received === this.plan.outputBytes && this.serverHas === this.inputTotal;
  }

  violate(what: string): void {
    this.violation ??= what;
  }

  /** The server says it has `count` data bytes: from WELCOME (`resumed`) or an ACK. */
  serverCount(count: unknown, where: string): void {
    if (typeof count !== 'number' || !Number.isSafeInteger(count) || count < 0) {
      this.violate(`${where}: the server's count ${JSON.stringify(count)} is not a count`);
      return;
    }
    if (count > this.maxSent) this.violate(`${where}: the server counts ${count} bytes from this client, which sent ${this.maxSent}`);
    else if (count !== this.inputTotal && !this.starts.includes(count)) this.violate(`${where}: the server's count ${count} falls inside a record (records are taken whole)`);
    this.serverHas = Math.max(this.serverHas, count);
  }

  /** Back to the first record the server does not have, after a resume. */
  rewind(): void {
    const index = this.starts.indexOf(this.serverHas);
    this.next = index < 0 ? this.inputs.length : index;
  }

  /** The next records to send (at most `budget` bytes of them, at least one), as [type, body, start]. */
  take(budget: number): Array<{ type: number; body: Buffer; start: number }> {
    const out: Array<{ type: number; body: Buffer; start: number }> = [];
    let size = 0;
    while (this.next < this.inputs.length && (out.length === 0 || size + (this.inputs[this.next] as Buffer).length <= budget)) {
      const body = this.inputs[this.next] as Buffer;
      out.push({ type: this.types[this.next] as number, body, start: this.starts[this.next] as number });
      size += body.length;
      this.next++;
      this.maxSent = Math.max(this.maxSent, (this.starts[this.next] ?? this.inputTotal));
    }
    return out;
  }

  /** One record from the server after the greeting. */
  onRecord(got: SessionRecord, where: string): void {
    if (got.type === R.binary || got.type === R.text) this.onData(got.body, where);
    else if (got.type === R.ack) {
      const count = ackCount(got.body);
      if (count === null) this.violate(`${where}: an ACK of ${got.body.length} bytes`);
      else this.serverCount(count, `${where} ACK`);
    } else if (got.type === R.end) this.serverEnd = parseJson(got.body) ?? { malformed: got.body.toString('latin1').slice(0, 100) };
    else if (got.type !== R.error) this.violate(`${where}: the server sent a record of type ${got.type} mid-session`);
  }

  private onData(body: Buffer, where: string): void {
    if (this.received + body.length > this.plan.outputBytes) {
      this.violate(`${where}: output past the peer's ${this.plan.outputBytes} bytes (at ${this.received}, ${body.length} more): a record delivered twice?`);
      return;
    }
    const wrong = this.output.verify(body);
    if (wrong >= 0) this.violate(`${where}: output byte ${wrong} is wrong (record of ${body.length} at ${this.received}): dropped, doubled or moved`);
    this.received += body.length;
  }

  /** Whether an ACK is due (docs/sessions.md: every ackBytes, and at least every 250 ms while data arrives). */
  ackDue(now: number): boolean {
    return this.received > this.acked && (this.received - this.acked >= this.ackBytes || now - this.lastAckAt >= 100);
  }

  /** The ACK record to send now, noted as sent. */
  ackRecord(now: number): Buffer {
    this.acked = this.received;
    this.lastAckAt = now;
    const body = Buffer.alloc(8);
    body.writeUInt32BE(Math.floor(this.received / 2 ** 32), 0);
    body.writeUInt32BE(this.received >>> 0, 4);
    return record(R.ack, body);
  }
}
