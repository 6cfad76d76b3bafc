/* What the cluster tests ask of a cluster: a request on a connection of its own, a TCP echo through a port (a line, or bytes in bulk), a retry until it works. */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { once } from 'node:events';
import { writeFileSync } from 'node:fs';
import { connect as tcpConnect } from 'node:net';
import { accepting } from './programs.js';
import type { RunningWebsocksy } from './websocksy.js';

/** GET on a connection of its own (a load balancer, or the kernel, picks the node per connection): the status, and the body as text. */
export async function freshGet(port: number, path: string): Promise<{ status: number; text: string }> {
  const response = await fetch(`http://127.0.0.1:${port}${path}`, { headers: { connection: 'close' }, signal: AbortSignal.timeout(10_000) });
  return { status: response.status, text: await response.text() };
}

/** Sends `text` through host:port and resolves with what comes back once it is as long (5 s at most). */
export function echoThrough(port: number, text: string, host = '127.0.0.1'): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = tcpConnect(port, host);
    let heard = '';
    const timer = setTimeout(() => socket.destroy(new Error(`no echo through ${host}:${port} in 5 s (heard ${JSON.stringify(heard)})`)), 5000);
    socket.on('connect', () => socket.write(text));
    socket.on('data', (chunk: Buffer) => {
      heard += chunk.toString();
      if (heard.length < text.length) return;
      clearTimeout(timer);
      socket.end();
      resolve(heard);
    });
    socket.on('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
  });
}

/** Writes `bytes` to host:port, half-closes, and resolves with the SHA-256 of what came back before the far end's FIN (30 s at most). */
export async function echoDigest(host: string, port: number, bytes: Buffer): Promise<string> {
  const socket = tcpConnect({ host, port, allowHalfOpen: true });
  const hash = createHash('sha256');
  let received = 0;
  socket.on('data', (chunk: Buffer) => {
    hash.update(chunk);
    received += chunk.length;
  });
  await once(socket, 'connect');
  // Written in pieces, as an application would, and ended: the FIN must cross the cluster too.
  for (let offset = 0; offset < bytes.length; offset += 256 * 1024) {
    if (!socket.write(bytes.subarray(offset, offset + 256 * 1024))) await once(socket, 'drain');
  }
  socket.end();
  const timer = setTimeout(() => socket.destroy(new Error(`no end of the echo through ${host}:${port} in 30 s (${received} of ${bytes.length} bytes back)`)), 30_000);
  try {
    await once(socket, 'end');
  } finally {
    clearTimeout(timer);
    socket.destroy();
  }
  assert.equal(received, bytes.length, `through ${host}:${port}: ${received} of ${bytes.length} bytes came back`);
  return hash.digest('hex');
}

/** Retries `attempt` every 50 ms for up to `ms`; resolves with its first success, or rejects with its last failure. */
export async function eventually<T>(ms: number, attempt: () => Promise<T>): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    try {
      return await attempt();
    } catch (error) {
      if (Date.now() > deadline) throw error;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }
}

/**
 * A real HAProxy (`program`) in TCP mode on 127.0.0.1:port, round robin over `servers` (name and
 * host:port each), whose checks take a dead server out within 200 ms; its config goes to `dir`.
 */
export async function startHaproxy(program: string, dir: string, port: number, servers: ReadonlyArray<readonly [string, string]>): Promise<ChildProcess> {
  writeFileSync(
    `${dir}/haproxy.cfg`,
    [
      'global', '  log stderr format raw local0 warning',
      'defaults', '  mode tcp', '  timeout connect 2s', '  timeout client 30s', '  timeout server 30s', '  retries 3', '  option redispatch',
      'frontend in', `  bind 127.0.0.1:${port}`, '  default_backend websocksy',
      'backend websocksy', '  balance roundrobin',
      ...servers.map(([name, address]) => `  server ${name} ${address} check inter 200ms fall 1 rise 2 observe layer4 error-limit 1 on-error mark-down`),
      '',
    ].join('\n'),
  );
  const haproxy = spawn(program, ['-f', `${dir}/haproxy.cfg`, '-db'], { stdio: ['ignore', 'inherit', 'inherit'] });
  await accepting(port);
  return haproxy;
}

/**
 * The key of the instance whose log says it opened `identity`'s latest tunnel session (by the
 * lines' timestamps); throws when none has. The line may still be in the instance's pipe for a
 * moment after the client says tunnel up: callers that just connected wrap this in `eventually`.
 */
export function latestOpener<K>(instances: ReadonlyMap<K, RunningWebsocksy>, identity: string): K {
  const line = new RegExp(`^(\\S+) info +tunnel open (?:worker=\\d+ )?identity=${identity} `, 'gm');
  let latest: { key: K; at: string } | null = null;
  for (const [key, instance] of instances) {
    for (const match of instance.log().matchAll(line)) {
      const at = match[1] as string;
      if (latest === null || at > latest.at) latest = { key, at };
    }
  }
  if (latest === null) throw new Error(`no instance opened a session of ${identity}`);
  return latest.key;
}
