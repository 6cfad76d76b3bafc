/*
 * The tunnel workload's relay anchor: socat forwarding a TCP port to the echo peer, one forked
 * process per connection, all in one process group so that groupUsage counts every one of them.
 * It is what a relay with no WebSocket and no protocol costs (one more TCP hop than direct), the
 * yardstick for `websocksy forward -L` that the issue measures against.
 */
import { spawnSync } from 'node:child_process';
import { createServer } from 'node:net';
import { startProcess, type Started } from './processes.js';

const SOCAT_PATHS = ['/usr/bin/socat', '/usr/local/bin/socat'];

/** The socat binary, or an error that says how to get it: the bench stops before measuring. */
export function socatBinary(): string {
  const found = SOCAT_PATHS.find((path) => spawnSync(path, ['-V']).status === 0);
  if (found === undefined) throw new Error('tunnel workload: socat is not installed (apt-get install socat); it is the relay anchor of the tunnel figures');
  return found;
}

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  if (address === null || typeof address === 'string') throw new Error('no port for socat');
  return address.port;
}

export interface SocatAnchor {
  readonly started: Started;
  readonly port: number;
}

export async function startSocat(binary: string, echoPort: number, root: string): Promise<SocatAnchor> {
  const port = await freePort();
  // -d -d logs "listening on", the line startProcess waits for.
  const started = await startProcess(binary, ['-d', '-d', `TCP-LISTEN:${port},bind=127.0.0.1,fork,reuseaddr`, `TCP:127.0.0.1:${echoPort}`], /listening on/, root);
  return { started, port };
}
