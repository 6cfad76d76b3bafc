/*
 * Dials a TCP destination for a stream, with a deadline; the error says which address failed and
 * why. The socket reads into the process's shared read buffer (shared-read.ts): a stream copies
 * each read into its data frame at once. No 'data' listener is there before the stream attaches,
 * and none is needed: resolve() runs, and the stream attaches, before the first read.
 */
import type { Socket } from 'node:net';
import { connectSharedRead } from '../lib/shared-read.js';

export const DIAL_TIMEOUT_MS = 10_000;

export function dialTcp(host: string, port: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = connectSharedRead({ host, port, allowHalfOpen: true });
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
