/*
 * systemd's readiness protocol (sd_notify(3)): a service of Type=notify is started when it says
 * READY=1 on the datagram socket named by $NOTIFY_SOCKET, which is when websocksy listens, not
 * when its process exists. RELOADING=1 and STOPPING=1 let `systemctl reload` and `stop` show
 * what it is doing. Without NOTIFY_SOCKET (not under systemd, or another Type) nothing is sent.
 */
import { createSocket, type UnixDgramSocket } from 'unix-dgram';
import { errorCode } from './errors.js';
import { log } from './log.js';

let socket: UnixDgramSocket | null = null;
let unusable = false;

/** The socket to systemd, made on first use; null (said once) when the variable names none it can reach. */
function notifySocket(): UnixDgramSocket | null {
  if (socket !== null || unusable) return socket;
  unusable = true;
  const path = process.env['NOTIFY_SOCKET'];
  if (path === undefined || path === '') return null;
  // An abstract socket (@name) has no path; unix-dgram can only connect to paths.
  if (!path.startsWith('/')) {
    log.warn('NOTIFY_SOCKET is not a socket path: systemd is not told when websocksy is ready; use Type=exec', { notify_socket: path });
    return null;
  }
  const made = createSocket('unix_dgram');
  let refused: unknown = null;
  made.once('error', (error) => (refused = error));
  made.connect(path);
  if (refused !== null) {
    log.warn('cannot notify systemd', { notify_socket: path, error: errorCode(refused) });
    made.close();
    return null;
  }
  unusable = false;
  socket = made;
  return socket;
}

/** Sends `fields` (KEY=value lines) to systemd when it asked for them. */
function notify(fields: Readonly<Record<string, string>>): void {
  const target = notifySocket();
  if (target === null) return;
  let text = '';
  for (const key in fields) text += `${key}=${fields[key]}\n`;
  target.send(Buffer.from(text), (error) => {
    if (error !== undefined) log.warn('cannot notify systemd', { error: errorCode(error) });
  });
}

/** Listening: systemd counts the service as started. */
export function notifyReady(status: string): void {
  notify({ READY: '1', STATUS: status });
}

/** SIGHUP received; notifyReady follows once the new configuration serves. */
export function notifyReloading(): void {
  // MONOTONIC_USEC: CLOCK_MONOTONIC in microseconds, which Type=notify-reload asks for.
  notify({ RELOADING: '1', MONOTONIC_USEC: (process.hrtime.bigint() / 1000n).toString() });
}

/** Shutting down (a drain, then the close of what is left); notifyDone follows. */
export function notifyStopping(): void {
  notify({ STOPPING: '1' });
}

/** What the service is doing, for `systemctl status` (a drain's count of what is left). */
export function notifyStatus(status: string): void {
  notify({ STATUS: status });
}

/** Stopped: the last word was said, and the socket closes so that it holds no event loop open. */
export function notifyDone(): void {
  socket?.close();
  socket = null;
  unusable = true;
}
