/* Binding a uWS app, shared by the main listener and the extra route listeners. */
import { createServer } from 'node:net';
import type { TemplatedApp, us_listen_socket } from 'uWebSockets.js';
import { errorCode } from '../lib/errors.js';

/**
 * uSockets binds with SO_REUSEPORT, so a second websocksy started on a port one already serves
 * would bind too, and the kernel would split new connections between the two without a word.
 * A plain bind (no SO_REUSEPORT) first finds the port taken; it is released before uWS binds.
 */
export async function checkPortFree(host: string, port: number): Promise<void> {
  await probePort(host, port);
}

/** A port the system has free on `host` now, for a port 0 that several processes must share (server/cluster-primary.ts). */
export function freePort(host: string): Promise<number> {
  return probePort(host, 0);
}

/** Binds host:port plainly (0: any free port) and releases it; resolves with the port bound. */
function probePort(host: string, port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once('error', (error) => {
      const where = port === 0 ? host : `${host} port ${port}`;
      reject(new Error(`cannot listen on ${where}: ${errorCode(error)}${errorCode(error) === 'EADDRINUSE' ? ' (another program, or another websocksy, listens there)' : ''}`));
    });
    probe.listen({ host, port, exclusive: true }, () => {
      const address = probe.address();
      const bound = typeof address === 'object' && address !== null ? address.port : port;
      probe.close(() => resolve(bound));
    });
  });
}

/**
 * Listens on host:port; rejects with a message naming both when the port is taken or uWS
 * cannot bind. `sharing`: the caller's own app already listens there (a certificate reload).
 */
export async function listenApp(app: TemplatedApp, host: string, port: number, sharing = false): Promise<us_listen_socket> {
  if (port !== 0 && !sharing) await checkPortFree(host, port);
  return new Promise((resolve, reject) => {
    app.listen(host, port, (socket) => {
      if (socket === false) reject(new Error(`cannot listen on ${host} port ${port} (address in use, not local, or not permitted)`));
      else resolve(socket);
    });
  });
}
