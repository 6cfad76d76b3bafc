/* A real WebSocket client (the `ws` package) with small promise helpers. */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { once } from 'node:events';
import WebSocket from 'ws';

export interface Message {
  readonly data: Buffer;
  readonly binary: boolean;
}

export interface TestClient {
  readonly ws: WebSocket;
  /** Resolves with the next message (bounded by `timeoutMs`). */
  next(timeoutMs?: number): Promise<Message>;
  /** Takes every message received and not yet taken by next(). */
  takeAll(): Message[];
  /**
   * Hands `handler` every message not yet taken, then each one as it comes; next() and takeAll()
   * get none after this. A listener added to `ws` after `await connect()` can miss the first
   * messages: those that came in the same read as the 101 are emitted (ws emits them
   * synchronously, from the socket's nextTick) before the awaiting code resumes.
   */
  onMessage(handler: (data: Buffer, binary: boolean) => void): void;
  /** Resolves with the close code and reason. */
  closed(timeoutMs?: number): Promise<{ code: number; reason: string }>;
}

export function wrap(ws: WebSocket): TestClient {
  const queue: Message[] = [];
  const waiting: Array<(message: Message) => void> = [];
  let handler: ((data: Buffer, binary: boolean) => void) | null = null;
  ws.on('message', (data: Buffer, binary: boolean) => {
    if (handler !== null) {
      handler(data, binary);
      return;
    }
    const message = { data, binary };
    const wake = waiting.shift();
    if (wake === undefined) queue.push(message);
    else wake(message);
  });
  const closed = new Promise<{ code: number; reason: string }>((resolve) => {
    ws.once('close', (code: number, reason: Buffer) => resolve({ code, reason: reason.toString() }));
  });
  return {
    ws,
    next: (timeoutMs = 5000) => {
      const queued = queue.shift();
      if (queued !== undefined) return Promise.resolve(queued);
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error('no message in time')), timeoutMs);
        waiting.push((message) => {
          clearTimeout(timer);
          resolve(message);
        });
      });
    },
    takeAll: () => queue.splice(0),
    onMessage: (next) => {
      handler = next;
      for (const message of queue.splice(0)) next(message.data, message.binary);
    },
    closed: (timeoutMs = 5000) =>
      Promise.race([
        closed,
        new Promise<never>((_, reject) => setTimeout(() => reject(new Error('not closed in time')), timeoutMs).unref()),
      ]),
  };
}

/** Opens a client; rejects with the HTTP status when the upgrade is refused. */
export async function connect(url: string, protocols?: string | string[], headers?: Record<string, string>): Promise<TestClient> {
  return connectWith(url, protocols, { headers, perMessageDeflate: false });
}

/** A `ws` client with `options`; rejects with `HTTP <status>` when the upgrade is refused, or the socket's error. */
export async function connectWith(url: string, protocols: string | string[] | undefined, options: WebSocket.ClientOptions): Promise<TestClient> {
  const ws = new WebSocket(url, protocols, options);
  const client = wrap(ws);
  await new Promise<void>((resolve, reject) => {
    ws.once('open', resolve);
    ws.once('unexpected-response', (_req, res) => reject(new Error(`HTTP ${String(res.statusCode)}`)));
    ws.once('error', reject);
  });
  return client;
}

export async function closeClient(client: TestClient): Promise<void> {
  if (client.ws.readyState === WebSocket.CLOSED) return;
  client.ws.close();
  await Promise.race([once(client.ws, 'close'), new Promise((resolve) => setTimeout(resolve, 2000).unref())]);
}

/** Sends `chunk` up to `times` times, a loop turn apart, while the client stays open (a flood against a peer that stops reading). */
export async function sendWhileOpen(client: TestClient, chunk: Buffer, times: number): Promise<void> {
  for (let i = 0; i < times && client.ws.readyState === WebSocket.OPEN; i++) {
    client.ws.send(chunk);
    await new Promise((resolve) => setImmediate(resolve));
  }
}

/** Sends `payload` to an echo, and checks that what comes back, in however many messages, is the same bytes. */
export async function echoesWhole(client: TestClient, payload: Buffer): Promise<void> {
  client.ws.send(payload);
  const hash = createHash('sha256');
  for (let received = 0; received < payload.length; ) {
    const { data } = await client.next();
    hash.update(data);
    received += data.length;
  }
  assert.equal(hash.digest('hex'), createHash('sha256').update(payload).digest('hex'));
}

/**
 * The TCP socket under a `ws` client, whose reading a test controls: paused, the client reads
 * nothing, answers no ping, and lets the server's sends pile up.
 */
export function socketUnder(ws: WebSocket): { pause(): void; resume(): void } {
  return (ws as unknown as { _socket: { pause(): void; resume(): void } })._socket;
}
