/*
 * A WebSocket client written out by hand on a TCP socket, for what client libraries will not do
 * on request: data frames and the close frame in one TCP write, frames a library would refuse
 * to send. It performs the upgrade, builds masked client frames, and reads the server's
 * unmasked frames — one at a time (next()) or all of them once the server closes (closed()).
 */
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { connect, type Socket } from 'node:net';
import { upgradeRequest } from './http.js';

export const OPCODE = { continuation: 0, text: 1, binary: 2, close: 8, ping: 9, pong: 10 } as const;

/** One masked client frame, with a random mask key. */
export function clientFrame(opcode: number, payload: Uint8Array, fin = true): Buffer {
  const length = payload.length;
  const lengthBytes = length < 126 ? 0 : length < 65_536 ? 2 : 8;
  const header = Buffer.alloc(2 + lengthBytes + 4);
  header[0] = (fin ? 0x80 : 0) | opcode;
  header[1] = 0x80 | (lengthBytes === 0 ? length : lengthBytes === 2 ? 126 : 127);
  if (lengthBytes === 2) header.writeUInt16BE(length, 2);
  if (lengthBytes === 8) header.writeBigUInt64BE(BigInt(length), 2);
  const mask = randomBytes(4);
  mask.copy(header, 2 + lengthBytes);
  const masked = Buffer.allocUnsafe(length);
  for (let i = 0; i < length; i++) masked[i] = (payload[i] as number) ^ (mask[i & 3] as number);
  return Buffer.concat([header, masked]);
}

export function closeFrame(code: number, reason = ''): Buffer {
  const payload = Buffer.alloc(2 + Buffer.byteLength(reason));
  payload.writeUInt16BE(code, 0);
  payload.write(reason, 2);
  return clientFrame(OPCODE.close, payload);
}

export interface ServerFrame {
  readonly opcode: number;
  readonly payload: Buffer;
}

/** The code of a close frame among `frames`, or null when there was none. */
export function closeCodeOf(frames: readonly ServerFrame[]): number | null {
  const close = frames.find((frame) => frame.opcode === OPCODE.close);
  if (close === undefined) return null;
  return close.payload.length >= 2 ? close.payload.readUInt16BE(0) : 1005;
}

/** A raw WebSocket connection after a 101. */
export class RawWebSocket {
  private buffered = Buffer.alloc(0);
  private readonly frames: ServerFrame[] = [];
  private readonly seen: ServerFrame[] = [];
  private wake: (() => void) | null = null;
  private readonly ended: Promise<void>;
  done = false;

  private constructor(readonly socket: Socket) {
    socket.on('data', (chunk: Buffer) => {
      this.buffered = Buffer.concat([this.buffered, chunk]);
      this.parse();
    });
    socket.on('error', () => undefined);
    this.ended = new Promise((resolve) =>
      socket.on('close', () => {
        this.done = true;
        this.wake?.();
        resolve();
      }),
    );
  }

  /** Upgrades `path` on 127.0.0.1:port with the extra header lines; rejects unless the answer is 101. */
  static async open(port: number, path: string, headers: readonly string[] = []): Promise<{ ws: RawWebSocket; head: string }> {
    const socket = connect({ host: '127.0.0.1', port });
    await once(socket, 'connect');
    socket.write(upgradeRequest(path, headers));
    let received = Buffer.alloc(0);
    for (;;) {
      const [chunk] = (await once(socket, 'data')) as [Buffer];
      received = Buffer.concat([received, chunk]);
      const end = received.indexOf('\r\n\r\n');
      if (end < 0) continue;
      const head = received.subarray(0, end).toString('latin1');
      if (!head.startsWith('HTTP/1.1 101')) {
        socket.destroy();
        throw new Error(`upgrade refused: ${head.split('\r\n')[0] ?? ''}`);
      }
      socket.pause();
      const ws = new RawWebSocket(socket);
      ws.buffered = received.subarray(end + 4);
      ws.parse();
      socket.resume();
      return { ws, head };
    }
  }

  private parse(): void {
    for (;;) {
      const data = this.buffered;
      if (data.length < 2) return;
      const short = (data[1] as number) & 0x7f;
      const lengthBytes = short === 126 ? 2 : short === 127 ? 8 : 0;
      if (data.length < 2 + lengthBytes) return;
      const length = lengthBytes === 0 ? short : lengthBytes === 2 ? data.readUInt16BE(2) : Number(data.readBigUInt64BE(2));
      const start = 2 + lengthBytes;
      if (data.length < start + length) return;
      const frame = { opcode: (data[0] as number) & 0x0f, payload: Buffer.from(data.subarray(start, start + length)) };
      this.frames.push(frame);
      this.seen.push(frame);
      this.buffered = data.subarray(start + length);
      this.wake?.();
    }
  }

  /** The next frame from the server, within `timeoutMs`. */
  async next(timeoutMs = 5000): Promise<ServerFrame> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const frame = this.frames.shift();
      if (frame !== undefined) return frame;
      if (this.done) throw new Error('connection closed');
      const left = deadline - Date.now();
      if (left <= 0) throw new Error('no frame in time');
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      this.wake = null;
    }
  }

  /** Every frame the server sent, once it has closed the connection (within `timeoutMs`). */
  async closed(timeoutMs = 10_000): Promise<ServerFrame[]> {
    const timer = setTimeout(() => this.socket.destroy(new Error(`no close within ${timeoutMs} ms`)), timeoutMs);
    await this.ended;
    clearTimeout(timer);
    return this.seen;
  }

  /** Sends `bytes` in one TCP write. */
  write(bytes: Buffer): void {
    this.socket.write(bytes);
  }
}
