/*
 * A WebSocket client written out by hand, for what client libraries will not do on request:
 * data frames and the close frame in one TCP write. It reads the server's frames (unmasked)
 * until the server closes the connection.
 */
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { connect, type Socket } from 'node:net';
import { upgradeRequest } from './http.js';

export const OPCODE = { continuation: 0, text: 1, binary: 2, close: 8, ping: 9, pong: 10 } as const;

/** One masked client frame. */
export function clientFrame(opcode: number, payload: Uint8Array, fin = true): Buffer {
  const length = payload.length;
  const lengthBytes = length < 126 ? 0 : length < 65_536 ? 2 : 8;
  const header = Buffer.alloc(2 + lengthBytes + 4);
  header[0] = (fin ? 0x80 : 0) | opcode;
  if (lengthBytes === 0) header[1] = 0x80 | length;
  else if (lengthBytes === 2) {
    header[1] = 0x80 | 126;
    header.writeUInt16BE(length, 2);
  } else {
    header[1] = 0x80 | 127;
    header.writeBigUInt64BE(BigInt(length), 2);
  }
  const mask = randomBytes(4);
  mask.copy(header, 2 + lengthBytes);
  const masked = Buffer.allocUnsafe(length);
  for (let i = 0; i < length; i++) masked[i] = (payload[i] as number) ^ (mask[i & 3] as number);
  return Buffer.concat([header, masked]);
}

export function closeFrame(code: number, reason = ''): Buffer {
  const payload = Buffer.alloc(2 + Buffer.byteLength(reason));
  payload.writeUInt16BE(code);
  payload.write(reason, 2);
  return clientFrame(OPCODE.close, payload);
}

export interface ServerFrame {
  readonly opcode: number;
  readonly payload: Buffer;
}

/** Server frames (unmasked) parsed from the front of `bytes`; returns them and the bytes used. */
function parseFrames(bytes: Buffer): { frames: ServerFrame[]; used: number } {
  const frames: ServerFrame[] = [];
  let at = 0;
  for (;;) {
    if (bytes.length - at < 2) break;
    const short = (bytes[at + 1] as number) & 0x7f;
    const lengthBytes = short < 126 ? 0 : short === 126 ? 2 : 8;
    if (bytes.length - at < 2 + lengthBytes) break;
    const length = lengthBytes === 0 ? short : lengthBytes === 2 ? bytes.readUInt16BE(at + 2) : Number(bytes.readBigUInt64BE(at + 2));
    const start = at + 2 + lengthBytes;
    if (bytes.length < start + length) break;
    frames.push({ opcode: (bytes[at] as number) & 0x0f, payload: bytes.subarray(start, start + length) });
    at = start + length;
  }
  return { frames, used: at };
}

export interface RawWebSocket {
  readonly socket: Socket;
  /** Resolves with every frame the server sent, once it closed the connection. */
  readonly frames: Promise<ServerFrame[]>;
}

/** Connects and completes the handshake on `path`; what follows is the caller's to write. */
export async function rawWebSocket(port: number, path: string, timeoutMs = 10_000): Promise<RawWebSocket> {
  const socket = connect(port, '127.0.0.1');
  await once(socket, 'connect');
  socket.write(upgradeRequest(path));
  let buffered = Buffer.alloc(0);
  let upgraded = false;
  const frames: ServerFrame[] = [];
  const handshake = new Promise<void>((resolve, reject) => {
    socket.on('data', (chunk: Buffer) => {
      buffered = Buffer.concat([buffered, chunk]);
      if (!upgraded) {
        const end = buffered.indexOf('\r\n\r\n');
        if (end < 0) return;
        const head = buffered.subarray(0, end).toString('latin1');
        if (!head.startsWith('HTTP/1.1 101')) {
          reject(new Error(`upgrade refused: ${head.split('\r\n')[0] ?? ''}`));
          return;
        }
        upgraded = true;
        buffered = buffered.subarray(end + 4);
        resolve();
      }
      const parsed = parseFrames(buffered);
      frames.push(...parsed.frames.map((frame) => ({ opcode: frame.opcode, payload: Buffer.from(frame.payload) })));
      buffered = buffered.subarray(parsed.used);
    });
    socket.once('error', reject);
  });
  const timer = setTimeout(() => socket.destroy(new Error(`no handshake or close within ${timeoutMs} ms`)), timeoutMs);
  const closed = new Promise<ServerFrame[]>((resolve, reject) => {
    socket.once('error', reject);
    socket.once('close', () => {
      clearTimeout(timer);
      resolve(frames);
    });
  });
  closed.catch(() => undefined);
  await handshake;
  return { socket, frames: closed };
}

/** The code of a close frame among `frames`, or null when there was none. */
export function closeCodeOf(frames: readonly ServerFrame[]): number | null {
  const close = frames.find((frame) => frame.opcode === OPCODE.close);
  if (close === undefined) return null;
  return close.payload.length >= 2 ? close.payload.readUInt16BE(0) : 1005;
}
