/*
 * Several websocksy instances for topology tests: each from an ini text written to a temp
 * folder, started on 127.0.0.1 with an OS-chosen port (or one picked beforehand when another
 * instance's config must name it), waiting until its upstream tunnels are up.
 */
import { once } from 'node:events';
import { writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { startWebsocksy, type RunningWebsocksy } from './websocksy.js';

/** A port free a moment ago (for a config that must name another instance's port). */
/** Ports this test process has handed out: the kernel may offer a closed one again. */
const handedOut = new Set<number>();

/**
 * A port free now and not handed out before in this process: two listeners given one port would
 * both bind it (uSockets uses SO_REUSEPORT) and split its connections.
 */
export async function freePort(): Promise<number> {
  for (let attempt = 0; attempt < 100; attempt++) {
    const server = createServer().listen(0, '127.0.0.1');
    await once(server, 'listening');
    const port = (server.address() as { port: number }).port;
    server.close();
    await once(server, 'close');
    if (!handedOut.has(port)) {
      handedOut.add(port);
      return port;
    }
  }
  throw new Error('no fresh free port in 100 tries');
}

/** Starts `websocksy DIR/NAME.cfg`; waits for `tunnels` "tunnel up" lines. */
export async function startInstance(dir: string, name: string, config: string, tunnels = 0): Promise<RunningWebsocksy> {
  writeFileSync(`${dir}/${name}.cfg`, config);
  const running = await startWebsocksy([`${dir}/${name}.cfg`]);
  if (tunnels > 0) await running.waitForLog(new RegExp(`(tunnel up[^]*){${tunnels}}`));
  return running;
}

export function core(port = 0): string {
  return `[core]\nlisten = 127.0.0.1\nport = ${port}\n`;
}

/** A hub: accepts tunnels from the identities given as "name token connect=...". */
export function tunnelSection(dir: string, name: string, identities: string): string {
  writeFileSync(`${dir}/${name}.identities`, identities);
  return `[tunnel]\nidentities = ${dir}/${name}.identities\nheartbeat = 0.25\nheartbeat-timeout = 1\n`;
}

export function upstreamSection(label: string, hubPort: number, identity: string, token: string, extra = ''): string {
  return `[upstream ${label}]\nurl = ws://127.0.0.1:${hubPort}/.tunnel\nname = ${identity}\ntoken = ${token}\nreconnect-min = 0.05\nreconnect-max = 0.2\n${extra}`;
}
