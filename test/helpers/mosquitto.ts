/*
 * A private mosquitto (Debian's package) on a free port of 127.0.0.1, with its own config, no
 * persistence, and every log line in a file the test reads: mosquitto logs "Client ID
 * disconnected." only when the client's DISCONNECT packet arrived, and "Client ID closed its
 * connection." when the connection just ended.
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { findProgram } from './tools.js';
import { freePort } from './instances.js';

export const MOSQUITTO = findProgram(['/usr/sbin/mosquitto', '/usr/bin/mosquitto']);

export interface Mosquitto {
  readonly port: number;
  /** Its own MQTT-over-WebSocket listener (mosquitto's `protocol websockets`). */
  readonly wsPort: number;
  log(): string;
  stop(): Promise<void>;
}

async function accepts(port: number): Promise<boolean> {
  const socket = connect(port, '127.0.0.1');
  try {
    await once(socket, 'connect');
    return true;
  } catch {
    return false;
  } finally {
    socket.destroy();
  }
}

export async function startMosquitto(program: string, dir: string, timeoutMs = 10_000): Promise<Mosquitto> {
  const port = await freePort();
  const wsPort = await freePort();
  const logFile = `${dir}/mosquitto.log`;
  writeFileSync(
    `${dir}/mosquitto.conf`,
    // Run as root (CI), mosquitto would switch to its own user, which cannot write the test's folder.
    `listener ${port} 127.0.0.1\nlistener ${wsPort} 127.0.0.1\nprotocol websockets\nallow_anonymous true\nlog_dest file ${logFile}\nlog_type all\npersistence false\nuser root\n`,
  );
  const child = spawn(program, ['-c', `${dir}/mosquitto.conf`], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const log = (): string => (existsSync(logFile) ? readFileSync(logFile, 'utf8') : '');
  const stop = async (): Promise<void> => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    const exited = once(child, 'exit');
    child.kill('SIGTERM');
    await exited;
  };
  for (const deadline = Date.now() + timeoutMs; !(await accepts(port)) || !(await accepts(wsPort)); ) {
    if (child.exitCode !== null || Date.now() > deadline) {
      await stop();
      throw new Error(`mosquitto did not start on port ${port}: ${stderr}${log()}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return { port, wsPort, log, stop };
}
