/*
 * Tunnel test fixtures: a server instance with an identities file, forward clients, TCP
 * endpoints that send a known stream and hash what they get, and a chaos relay that cuts or
 * stalls the TCP connections between two websocksy processes.
 */
import { createHash } from 'node:crypto';
import { once } from 'node:events';
import { writeFileSync } from 'node:fs';
import { connect, type AddressInfo, type Server, type Socket } from 'node:net';
import { streamServer } from './peers.js';
import { startWebsocksy, type RunningWebsocksy } from './websocksy.js';

/** `heartbeat`: the [tunnel] heartbeat and heartbeat-timeout, in seconds (the clients take the server's). */
export async function startTunnelServer(dir: string, identities: string, extra = '', heartbeat: { readonly interval: number; readonly timeout: number } = { interval: 0.25, timeout: 1 }): Promise<RunningWebsocksy> {
  writeFileSync(`${dir}/identities`, identities);
  writeFileSync(
    `${dir}/server.cfg`,
    `[core]\nlisten = 127.0.0.1\nport = 0\n[tunnel]\nidentities = ${dir}/identities\nheartbeat = ${heartbeat.interval}\nheartbeat-timeout = ${heartbeat.timeout}\n${extra}\n[status]\npath = /.status\nclients = loopback\n`,
  );
  return startWebsocksy([`${dir}/server.cfg`]);
}

/** `websocksy forward ...` (`env` added to the test's); resolves once the tunnel is up (and every remote forward is bound). */
export async function startForward(args: readonly string[], remoteForwards = 0, env: NodeJS.ProcessEnv = {}): Promise<RunningWebsocksy & { ports: number[] }> {
  const running = await startWebsocksyForward(['forward', '--reconnect-min', '0.02', '--reconnect-max', '0.2', ...args], env);
  try {
    await running.waitForLog(/tunnel up/);
    for (let i = 1; i <= remoteForwards; i++) await running.waitForLog(new RegExp(`(remote_port=\\d+[^]*){${i}}`));
  } catch (error) {
    await running.stop();
    throw error;
  }
  return running;
}

async function startWebsocksyForward(args: readonly string[], env: NodeJS.ProcessEnv = {}): Promise<RunningWebsocksy & { ports: number[] }> {
  const running = await startWebsocksy(args, { readyPattern: /forwarding .*ports=([\d,]*)/, env });
  const line = /forwarding .*ports=([\d,]*)/.exec(running.log())?.[1] ?? '';
  return { ...running, ports: line === '' ? [] : line.split(',').map(Number) };
}

/** A repeating random block of prime length: a lost, doubled or reordered chunk changes the hash. */
export function pattern(seed: number): Buffer {
  const block = Buffer.allocUnsafe(65_521);
  let state = seed >>> 0;
  for (let i = 0; i < block.length; i++) {
    state = (Math.imul(state, 1_103_515_245) + 12_345) >>> 0;
    block[i] = state >>> 24;
  }
  return block;
}

/** Writes `total` bytes of `block` with the socket's backpressure, then half-closes; resolves with the sha256. */
export function sendStream(socket: Socket, block: Buffer, total: number): Promise<string> {
  const hash = createHash('sha256');
  let sent = 0;
  return new Promise((resolve) => {
    const pump = (): void => {
      while (sent < total) {
        const start = sent % block.length;
        const chunk = block.subarray(start, Math.min(block.length, start + (total - sent)));
        sent += chunk.length;
        hash.update(chunk);
        if (!socket.write(chunk)) {
          socket.once('drain', pump);
          return;
        }
      }
      socket.end();
      resolve(hash.digest('hex'));
    };
    pump();
  });
}

/** Hashes everything the socket delivers until its FIN. */
export function receiveStream(socket: Socket): Promise<{ bytes: number; sha256: string }> {
  const hash = createHash('sha256');
  let bytes = 0;
  socket.on('data', (chunk: Buffer) => {
    bytes += chunk.length;
    hash.update(chunk);
  });
  return new Promise((resolve, reject) => {
    socket.once('end', () => resolve({ bytes, sha256: hash.digest('hex') }));
    socket.once('error', reject);
    socket.once('close', () => reject(new Error(`socket closed before its end after ${bytes} bytes`)));
  });
}

export interface Transfer {
  sent: Promise<string>;
  received: Promise<{ bytes: number; sha256: string }>;
}

/** Both directions at once on one socket. */
export function exchange(socket: Socket, block: Buffer, total: number): Transfer {
  return { received: receiveStream(socket), sent: sendStream(socket, block, total) };
}

/** A TCP server whose connections each run `exchange` with `total` bytes; transfers are collected. */
export async function exchangeServer(block: Buffer, total: number): Promise<{ port: number; transfers: Transfer[]; server: Server; close(): Promise<void> }> {
  const transfers: Transfer[] = [];
  const peer = await streamServer((socket) => transfers.push(exchange(socket, block, total)), undefined, { allowHalfOpen: true });
  return { port: (peer.server.address() as AddressInfo).port, transfers, server: peer.server, close: peer.close };
}

export async function dial(port: number): Promise<Socket> {
  const socket = connect({ host: '127.0.0.1', port, allowHalfOpen: true });
  await once(socket, 'connect');
  return socket;
}

export async function fetchStatus(port: number, path = '/.status'): Promise<StatusJson> {
  const response = await fetch(`http://127.0.0.1:${port}${path}`);
  return (await response.json()) as StatusJson;
}

export interface StatusJson {
  server: { sessions: Array<{ identity: string; state: string; resumes: number; streamsOpened: number; bytesIn: number; bytesOut: number; listeners: string[]; streams: unknown[] }> } | null;
  upstreams: Array<{ name: string; state: string; reconnects: number }>;
}
