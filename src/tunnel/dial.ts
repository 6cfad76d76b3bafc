/* Dials a TCP destination for a stream, with a deadline; the error says which address failed and why. */
import { connect, type Socket } from 'node:net';

export const DIAL_TIMEOUT_MS = 10_000;

export function dialTcp(host: string, port: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host, port, allowHalfOpen: true });
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
