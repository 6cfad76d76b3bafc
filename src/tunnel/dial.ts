/*
 * Dials a TCP destination for a stream, with a deadline; the error says which address failed and
 * why. A stream that ends while it dials aborts the dial: its socket is closed at once, instead of
 * being held, connecting, until the deadline (a client that opened streams to an address that
 * never answers and dropped its sessions again and again had the server hold thousands). The
 * socket reads into the process's shared read buffer (shared-read.ts): a stream copies each read
 * into its data frame at once. No 'data' listener is there before the stream attaches,
 * and none is needed: resolve() runs, and the stream attaches, before the first read.
 */
import type { Socket } from 'node:net';
import { connectSharedRead } from '../lib/shared-read.js';

export const DIAL_TIMEOUT_MS = 10_000;

export function dialTcp(host: string, port: number, signal: AbortSignal): Promise<Socket> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) {
      reject(new Error(`connecting to ${host}:${port} abandoned: the stream ended`));
      return;
    }
    const socket = connectSharedRead({ host, port, allowHalfOpen: true });
    socket.setNoDelay(true);
    const settle = (): void => {
      clearTimeout(timer);
      signal.removeEventListener('abort', abandoned);
    };
    const abandoned = (): void => {
      settle();
      socket.destroy();
      reject(new Error(`connecting to ${host}:${port} abandoned: the stream ended`));
    };
    const timer = setTimeout(() => {
      settle();
      socket.destroy();
      reject(new Error(`connecting to ${host}:${port} timed out`));
    }, DIAL_TIMEOUT_MS);
    signal.addEventListener('abort', abandoned, { once: true });
    const failed = (error: NodeJS.ErrnoException): void => {
      settle();
      reject(new Error(`cannot connect to ${host}:${port}: ${error.code ?? error.message}`));
    };
    socket.once('error', failed);
    socket.once('connect', () => {
      settle();
      socket.off('error', failed);
      resolve(socket);
    });
  });
}
