/*
 * Dials a TCP destination for a stream, with a deadline; the error says which address failed and
 * why. The socket reads into one buffer shared by every dialled socket (`onread`) instead of a
 * fresh 64 KiB buffer per read, and hands each read to its 'data' listeners as a view of it:
 * valid only during the call, as StreamSocket says. A stream copies the bytes into its data frame
 * at once, so the process allocates nothing per read (see buffer-pool.ts for why that matters).
 */
import { connect, type Socket } from 'node:net';
import { MAX_DATA_PAYLOAD } from './protocol.js';

export const DIAL_TIMEOUT_MS = 10_000;

/** One read at a time runs on the single JS thread, so one buffer serves every socket. */
const readBuffer = Buffer.allocUnsafeSlow(MAX_DATA_PAYLOAD);

export function dialTcp(host: string, port: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket: Socket = connect({
      host,
      port,
      allowHalfOpen: true,
      onread: {
        buffer: readBuffer,
        // No 'data' listener before the stream attaches: resolve() runs before the first read.
        callback: (bytes: number, buffer: Uint8Array): boolean => socket.emit('data', Buffer.from(buffer.buffer, buffer.byteOffset, bytes)) || true,
      },
    });
    socket.setNoDelay(true);
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`connecting to ${host}:${port} timed out`));
    }, DIAL_TIMEOUT_MS);
    const failed = (error: NodeJS.ErrnoException): void => {
      clearTimeout(timer);
      reject(new Error(`cannot connect to ${host}:${port}: ${error.code ?? error.message}`));
    };
    socket.once('error', failed);
    socket.once('connect', () => {
      clearTimeout(timer);
      socket.off('error', failed);
      resolve(socket);
    });
  });
}
