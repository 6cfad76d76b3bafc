/*
 * A WebSocket client written out by hand on a TCP socket, for tests that need control over
 * what arrives in which TCP write (data frames and the close frame in one write): the upgrade,
 * masked client frames, and a reader of the server's unmasked frames.
 */
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { connect, type Socket } from 'node:net';
import { upgradeRequest } from './http.js';

export const OPCODE = { binary: 2, close: 8 } as const;

/** One masked client frame (FIN set), with a random mask key. */
export function maskedFrame(opcode: number, payload: Buffer): Buffer {
  const length = payload.length;
  const lengthBytes = length < 126 ? 0 : length < 65_536 ? 2 : 8;
  const head = Buffer.alloc(2 + lengthBytes + 4);
  head[0] = 0x80 | opcode;
  head[1] = 0x80 | (lengthBytes === 0 ? length : lengthBytes === 2 ? 126 : 127);
  if (lengthBytes === 2) head.writeUInt16BE(length, 2);
  if (lengthBytes === 8) head.writeBigUInt64BE(BigInt(length), 2);
  const mask = randomBytes(4);
  mask.copy(head, 2 + lengthBytes);
  const body = Buffer.allocUnsafe(length);
  for (let i = 0; i < length; i++) body[i] = (payload[i] as number) ^ (mask[i & 3] as number);
  return Buffer.concat([head, body]);
}

export function closeFrame(code: number, reason = ''): Buffer {
  const payload = Buffer.alloc(2 + Buffer.byteLength(reason));
  payload.writeUInt16BE(code, 0);
  payload.write(reason, 2);
  return maskedFrame(OPCODE.close, payload);
}

export interface ServerFrame {
  readonly opcode: number;
  readonly payload: Buffer;
}

/** A raw WebSocket connection after a 101; `next()` yields the server's frames in order. */
export class RawWebSocket {
  private buffered = Buffer.alloc(0);
  private readonly frames: ServerFrame[] = [];
  private wake: (() => void) | null = null;
  ended = false;

  private constructor(readonly socket: Socket) {
    socket.on('data', (chunk: Buffer) => {
      this.buffered = Buffer.concat([this.buffered, chunk]);
      this.parse();
    });
    socket.on('close', () => {
      this.ended = true;
      this.wake?.();
    });
    socket.on('error', () => undefined);
  }

  /** Upgrades `path` on 127.0.0.1:port with the extra header lines; rejects unless the answer is 101. */
  static async open(port: number, path: string, headers: readonly string[]): Promise<{ ws: RawWebSocket; head: string }> {
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
      if (!head.startsWith('HTTP/1.1 101')) throw new Error(`upgrade refused: ${head.split('\r\n')[0] ?? ''}`);
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
      this.frames.push({ opcode: (data[0] as number) & 0x0f, payload: Buffer.from(data.subarray(start, start + length)) });
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
      if (this.ended) throw new Error('connection closed');
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

  /** Sends `bytes` in one TCP write. */
  write(bytes: Buffer): void {
    this.socket.write(bytes);
  }
}
