/* Binding a uWS app, shared by the main listener and the extra route listeners. */
import type { TemplatedApp, us_listen_socket } from 'uWebSockets.js';

/** Listens on host:port; rejects with a message naming both when uWS cannot bind. */
export function listenApp(app: TemplatedApp, host: string, port: number): Promise<us_listen_socket> {
  return new Promise((resolve, reject) => {
    app.listen(host, port, (socket) => {
      if (socket === false) reject(new Error(`cannot listen on ${host} port ${port} (address in use, not local, or not permitted)`));
      else resolve(socket);
    });
  });
}
