/*
 * Several websocksy instances for topology tests: each from an ini text written to a temp
 * folder, started on 127.0.0.1 with an OS-chosen port (or one picked beforehand when another
 * instance's config must name it), waiting until its upstream tunnels are up.
 */
import { once } from 'node:events';
import { readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { startWebsocksy, type RunningWebsocksy } from './websocksy.js';

/** Ports this test process has handed out: the kernel may offer a closed one again. */
const handedOut = new Set<number>();

/**
 * The first port the kernel hands out for port 0 and outgoing connections (Linux's
 * ip_local_port_range). Ports below it are never given to anyone who did not ask for them.
 */
function ephemeralLow(): number {
  try {
    const low = Number(readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/)[0]);
    return Number.isInteger(low) && low > 2048 ? low : 32768;
  } catch {
    return 32768;
  }
}
const FIRST_PICKED_PORT = 10_000;

async function bindable(port: number): Promise<boolean> {
  const server = createServer();
  const ok = await new Promise<boolean>((resolve) => {
    server.once('error', () => resolve(false));
    server.listen(port, '0.0.0.0', () => resolve(true));
  });
  if (ok) {
    server.close();
    await once(server, 'close');
  }
  return ok;
}

/**
 * A port free now, not handed out before in this process, and below the kernel's ephemeral
 * range: a port taken from that range and closed again can be handed straight back to a
 * listener on port 0 or to an outgoing connection before the test binds it (CI once saw
 * `-L 0:…` get the very port the test had picked for `-R`). Two listeners given one port would
 * both bind it (uSockets uses SO_REUSEPORT) and split its connections.
 */
export async function freePort(): Promise<number> {
  const span = ephemeralLow() - FIRST_PICKED_PORT;
  for (let attempt = 0; attempt < 200; attempt++) {
    const port = FIRST_PICKED_PORT + Math.floor(Math.random() * span);
    if (handedOut.has(port) || !(await bindable(port))) continue;
    handedOut.add(port);
    return port;
  }
  throw new Error('no fresh free port in 200 tries');
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
