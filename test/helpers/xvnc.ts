/*
 * TigerVNC's Xvnc (Debian's tigervnc-standalone-server): an X server whose screen is served over
 * RFB, the VNC server a noVNC user puts behind websocksy. It runs on a display and a port of its
 * own, without authentication and for 127.0.0.1 only; xsetroot (x11-xserver-utils) paints its
 * screen, so that a test can tell what a viewer must show.
 */
import { spawn, execFile, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { accepting, stopProgram } from './programs.js';
import { freePort } from './instances.js';
import { findProgram } from './tools.js';

export const XVNC = findProgram(['/usr/bin/Xvnc']);
export const XSETROOT = findProgram(['/usr/bin/xsetroot']);

export interface Xvnc {
  /** The RFB port on 127.0.0.1. */
  readonly port: number;
  /** The X display, `:N`. */
  readonly display: string;
  /** What Xvnc wrote to stderr so far. */
  readonly log: () => string;
  /** Paints the screen's background with xsetroot and its `options` (`-solid #rrggbb`, `-mod X Y -fg … -bg …`). */
  paint(options: readonly string[]): Promise<void>;
  stop(): Promise<void>;
}

/** A display number no X server holds now (its lock file and socket are absent), from a range tests elsewhere do not use. */
function freeDisplay(): number {
  for (let attempt = 0; attempt < 100; attempt++) {
    const display = 200 + Math.floor(Math.random() * 300);
    if (!existsSync(`/tmp/.X${display}-lock`) && !existsSync(`/tmp/.X11-unix/X${display}`)) return display;
  }
  throw new Error('no free X display in 100 tries');
}

export async function startXvnc(xvnc: string, xsetroot: string, desktop: string, geometry = '320x240'): Promise<Xvnc> {
  const port = await freePort();
  const display = `:${freeDisplay()}`;
  const child: ChildProcess = spawn(xvnc, [display, '-rfbport', String(port), '-localhost', '-SecurityTypes', 'None', '-geometry', geometry, '-depth', '24', '-desktop', desktop, '-nolisten', 'tcp', '-AlwaysShared'], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let log = '';
  child.stderr?.on('data', (chunk: Buffer) => {
    log += chunk.toString();
  });
  await accepting(port);
  return {
    port,
    display,
    log: () => log,
    paint: (options) =>
      new Promise((resolve, reject) => {
        execFile(xsetroot, ['-display', display, ...options], { timeout: 10_000 }, (error, _stdout, stderr) => (error === null ? resolve() : reject(new Error(`xsetroot: ${error.message} ${stderr}`))));
      }),
    stop: () => stopProgram(child),
  };
}
