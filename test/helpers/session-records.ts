/*
 * The resumable-session records of docs/sessions.md, written from the document for the tests
 * (not imported from the server, so a misreading on either side shows), and a bare protocol
 * client over `ws` that keeps its own counts.
 */
import { connect, type TestClient } from './client.js';

export const SESSION_PROTOCOL = 'websocksy.session.v1';
export const T = { hello: 1, welcome: 2, binary: 3, text: 4, ack: 5, end: 6, error: 7 } as const;

export interface SessionRecord {
  readonly type: number;
  readonly body: Buffer;
}

export function record(type: number, body: Buffer | string): Buffer {
  return Buffer.concat([Buffer.from([type]), Buffer.from(body)]);
}

export function ack(count: number): Buffer {
  const out = Buffer.alloc(9);
  out[0] = T.ack;
  out.writeUInt32BE(Math.floor(count / 2 ** 32), 1);
  out.writeUInt32BE(count % 2 ** 32, 5);
  return out;
}

export function ackValue(body: Buffer): number {
  return body.readUInt32BE(0) * 2 ** 32 + body.readUInt32BE(4);
}

/** Splits an HTTP answer into records. */
export function httpRecords(body: Buffer): SessionRecord[] {
  const out: SessionRecord[] = [];
  let at = 0;
  while (at < body.length) {
    const length = body.readUInt32BE(at + 1);
    out.push({ type: body[at] as number, body: body.subarray(at + 5, at + 5 + length) });
    at += 5 + length;
  }
  return out;
}

export function httpRecord(type: number, body: Buffer | string): Buffer {
  const payload = Buffer.from(body);
  const header = Buffer.alloc(5);
  header[0] = type;
  header.writeUInt32BE(payload.length, 1);
  return Buffer.concat([header, payload]);
}

export interface Welcome {
  readonly v: number;
  readonly session: string;
  readonly secret?: string;
  readonly resumed: boolean;
  readonly protocol: string;
  readonly received: number;
  readonly path: string;
  readonly grace: number;
  readonly window: number;
  readonly ackBytes: number;
}

/** One WebSocket of a session, counting the data it gets; `data` is the peer's output in order. */
export class SessionConnection {
  received = 0;
  readonly data: Buffer[] = [];
  ends: Array<{ code: number; reason: string }> = [];
  acks: number[] = [];

  private constructor(
    readonly client: TestClient,
    readonly welcome: Welcome,
  ) {}

  /** Opens a session on `url`; rejects when the server did not choose the session subprotocol. */
  static async open(url: string, protocols: string[] = []): Promise<SessionConnection> {
    const client = await connect(url, [SESSION_PROTOCOL, ...protocols]);
    if (client.ws.protocol !== SESSION_PROTOCOL) throw new Error(`the server chose "${client.ws.protocol}"`);
    return new SessionConnection(client, await firstWelcome(client));
  }

  /** Resumes with `hello`; resolves with the connection, or with the ERROR record and close code. */
  static async resume(url: string, hello: object): Promise<SessionConnection | { error: string; code: number }> {
    const client = await connect(url, [SESSION_PROTOCOL]);
    client.ws.send(record(T.hello, JSON.stringify(hello)));
    const first = await client.next(5000);
    const type = first.data[0];
    if (type === T.error) {
      const { error } = JSON.parse(first.data.subarray(1).toString()) as { error: string };
      const { code } = await client.closed();
      return { error, code };
    }
    if (type !== T.welcome) throw new Error(`first record of type ${String(type)}`);
    const welcome = JSON.parse(first.data.subarray(1).toString()) as Welcome;
    const connection = new SessionConnection(client, welcome);
    connection.received = (hello as { received: number }).received;
    return connection;
  }

  send(type: number, body: Buffer | string): void {
    this.client.ws.send(record(type, body));
  }

  /** Takes records until `until` is true or `timeoutMs` passes; acknowledges nothing (acknowledge() does). */
  async pump(until: () => boolean, timeoutMs = 10_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!until()) {
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`pump: condition not met in ${timeoutMs} ms (received ${this.received})`);
      const message = await this.client.next(left);
      this.take(message.data);
    }
  }

  take(raw: Buffer): void {
    const type = raw[0];
    const body = raw.subarray(1);
    if (type === T.binary || type === T.text) {
      this.data.push(Buffer.from(body));
      this.received += body.length;
    } else if (type === T.ack) this.acks.push(ackValue(body));
    else if (type === T.end) this.ends.push(JSON.parse(body.toString()) as { code: number; reason: string });
    else throw new Error(`unexpected record type ${String(type)}`);
  }

  acknowledge(): void {
    this.client.ws.send(ack(this.received));
  }

  /** Cuts the TCP connection without a close frame, as a network drop would. */
  cut(): void {
    this.client.ws.terminate();
  }
}

async function firstWelcome(client: TestClient): Promise<Welcome> {
  const first = await client.next(5000);
  if (first.data[0] !== T.welcome) throw new Error(`first record of type ${String(first.data[0])}`);
  return JSON.parse(first.data.subarray(1).toString()) as Welcome;
}
