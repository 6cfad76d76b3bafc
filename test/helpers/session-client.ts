/*
 * A ResumableSocket in the test process (Node 20: `ws` as its WebSocket), with what a test
 * checks recorded: its events in order, every byte it received (hashed), and a sender that
 * streams a known sequence of messages while keeping bufferedAmount bounded.
 */
import { createHash, randomBytes } from 'node:crypto';
import WebSocket from 'ws';
import { ResumableSocket, type DetachEvent, type ResumableSocketOptions, type ResumeEvent, type SocketCloseEvent } from 'websocksy/client';

export interface ClientRecorder {
  readonly socket: ResumableSocket;
  /** `open`, `detach`, `resume`, `error`, `close`, in order (messages left out). */
  readonly events: string[];
  readonly detaches: DetachEvent[];
  readonly resumes: ResumeEvent[];
  readonly opened: Promise<void>;
  readonly closed: Promise<SocketCloseEvent>;
  received(): number;
  digest(): string;
}

export function recordClient(url: string, options: ResumableSocketOptions = {}): ClientRecorder {
  const socket = new ResumableSocket(url, { WebSocket, minDelayMs: 10, maxDelayMs: 200, ...options });
  const events: string[] = [];
  const detaches: DetachEvent[] = [];
  const resumes: ResumeEvent[] = [];
  const hash = createHash('sha256');
  let received = 0;
  const opened = new Promise<void>((resolve, reject) => {
    socket.onopen = () => {
      events.push('open');
      resolve();
    };
    socket.addEventListener('close', (event) => reject(new Error(`closed before open: ${(event as SocketCloseEvent).code} ${(event as SocketCloseEvent).reason}`)));
  });
  opened.catch(() => undefined);
  const closed = new Promise<SocketCloseEvent>((resolve) => {
    socket.onclose = (event) => {
      events.push(`close ${event.code}`);
      resolve(event);
    };
  });
  socket.onerror = () => events.push('error');
  socket.ondetach = (event) => {
    events.push('detach');
    detaches.push(event);
  };
  socket.onresume = (event) => {
    events.push(`resume ${event.detail.transport}`);
    resumes.push(event);
  };
  socket.onmessage = (event) => {
    const data = event.data as string | ArrayBuffer;
    const bytes = typeof data === 'string' ? Buffer.from(data) : Buffer.from(data);
    received += bytes.length;
    hash.update(bytes);
  };
  return { socket, events, detaches, resumes, opened, closed, received: () => received, digest: () => hash.copy().digest('hex') };
}

export interface Sender {
  /** Resolves with the sha256 of all it sent once the last message is handed to send(). */
  readonly done: Promise<string>;
  sent(): number;
  stop(): void;
}

/**
 * Sends `total` bytes as binary messages of `messageBytes` (each different), keeping at most
 * `maxBuffered` bytes in bufferedAmount: a sender that respects flow control.
 */
export function streamMessages(socket: ResumableSocket, total: number, messageBytes: number, maxBuffered = 8 * 1024 * 1024): Sender {
  const source = randomBytes(1024 * 1024 + messageBytes);
  const hash = createHash('sha256');
  let sent = 0;
  let index = 0;
  let timer: NodeJS.Timeout | undefined;
  const done = new Promise<string>((resolve) => {
    const fill = (): void => {
      while (sent < total && socket.bufferedAmount < maxBuffered) {
        const length = Math.min(messageBytes, total - sent);
        const at = (index++ * 4099) % (source.length - length);
        const message = source.subarray(at, at + length);
        hash.update(message);
        socket.send(message);
        sent += length;
      }
      if (sent >= total) resolve(hash.digest('hex'));
      else timer = setTimeout(fill, 2);
    };
    fill();
  });
  return { done, sent: () => sent, stop: () => clearTimeout(timer) };
}

/** Resolves when `condition` holds, checking every 10 ms; fails after `timeoutMs` with `what`. */
export async function until(condition: () => boolean | Promise<boolean>, timeoutMs: number, what: string | (() => string)): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms: ${typeof what === 'string' ? what : what()}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

/** `promise`, or a failure naming `what` after `timeoutMs`. */
export async function within<T>(promise: Promise<T>, timeoutMs: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no ${what} within ${timeoutMs} ms`)), timeoutMs);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}
