/* Binding a uWS app, shared by the main listener and the extra route listeners. */
import { createServer } from 'node:net';
import type { TemplatedApp, us_listen_socket } from 'uWebSockets.js';
import { errorCode } from '../lib/errors.js';

/**
 * uSockets binds with SO_REUSEPORT, so a second websocksy started on a port one already serves
 * would bind too, and the kernel would split new connections between the two without a word.
 * A plain bind (no SO_REUSEPORT) first finds the port taken; it is released before uWS binds.
 */
export function checkPortFree(host: string, port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once('error', (error) => reject(new Error(`cannot listen on ${host} port ${port}: ${errorCode(error)}${errorCode(error) === 'EADDRINUSE' ? ' (another program, or another websocksy, listens there)' : ''}`)));
    probe.listen({ host, port, exclusive: true }, () => probe.close(() => resolve()));
  });
}

/** A port the system has free on `host` now, for a port 0 that several processes must share (server/cluster-primary.ts). */
export function freePort(host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once('error', (error) => reject(new Error(`cannot listen on ${host}: ${errorCode(error)}`)));
    probe.listen({ host, port: 0, exclusive: true }, () => {
      const address = probe.address();
      const port = typeof address === 'object' && address !== null ? address.port : 0;
      probe.close(() => resolve(port));
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
