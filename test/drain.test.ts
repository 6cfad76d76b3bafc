/*
 * SIGTERM's graceful drain (docs/operations.md, "Stopping and rolling restarts"): the port
 * refuses at once, what is open goes on until it ends or the deadline, then 1001 and exit.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { writeFileSync } from 'node:fs';
import { createServer, request, type Server } from 'node:http';
import { connect as tcpConnect } from 'node:net';
import { describe, test } from 'node:test';
import { closeClient, connect, type TestClient } from './helpers/client.js';
import { tcpEcho, tempDir } from './helpers/peers.js';
import { startWebsocksy, type RunningWebsocksy } from './helpers/websocksy.js';

/** Resolves with the error code of a TCP connect to `port` (or 'connected'). */
function connectOutcome(port: number): Promise<string> {
  return new Promise((resolve) => {
    const socket = tcpConnect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve('connected');
    });
    socket.once('error', (error: NodeJS.ErrnoException) => resolve(error.code ?? error.message));
  });
}

async function echoes(client: TestClient, text: string): Promise<void> {
  client.ws.send(text);
  assert.equal((await client.next()).data.toString(), text);
}

function exitOf(server: RunningWebsocksy): Promise<number | null> {
  if (server.process.exitCode !== null) return Promise.resolve(server.process.exitCode);
  return (once(server.process, 'exit') as Promise<[number | null]>).then(([code]) => code);
}

/** An upstream that answers `GET /slow?ms=N` after N ms. */
async function slowUpstream(): Promise<{ port: number; server: Server }> {
  const server = createServer((req, res) => {
    const ms = Number(new URL(req.url ?? '/', 'http://x').searchParams.get('ms') ?? '0');
    setTimeout(() => res.end(`done after ${ms} ms\n`), ms);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return { port: (server.address() as { port: number }).port, server };
}

/** One keep-alive GET; resolves with the status, the Connection header and the body. */
function get(port: number, path: string): Promise<{ status: number; connection: string | undefined; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, headers: { connection: 'keep-alive' } }, (res) => {
      let body = '';
      res.on('data', (chunk: Buffer) => (body += chunk.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, connection: res.headers.connection, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

describe('drain on SIGTERM', () => {
  test('a live bridge connection keeps echoing until its client closes it; the port refuses at once; an in-flight route request is answered with Connection: close; exit soon after', async () => {
    const dir = tempDir('websocksy-drain-');
    const peer = await tcpEcho();
    const upstream = await slowUpstream();
    writeFileSync(`${dir.path}/drain.cfg`, `[core]\nlisten = 127.0.0.1\nport = 0\ndrain-timeout = 20\n[backend]\nhost = ${peer.address}\n[route /api]\nto = http://127.0.0.1:${upstream.port}\n`);
    const server = await startWebsocksy([`${dir.path}/drain.cfg`]);
    try {
      const client = await connect(`${server.url}/echo`);
      await echoes(client, 'before');
      const reached = once(upstream.server, 'request');
      const inFlight = get(server.port, '/api/slow?ms=800');
      await reached;
      server.process.kill('SIGTERM');
      await server.waitForLog(/draining signal=SIGTERM websockets=1 sessions=0 streams=0 requests=1 deadline_s=20/);
      assert.equal(await connectOutcome(server.port), 'ECONNREFUSED');
      const answered = await inFlight;
      assert.deepEqual(answered, { status: 200, connection: 'close', body: 'done after 800 ms\n' });
      for (let i = 0; i < 10; i++) {
        await echoes(client, `during ${i}`);
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
      assert.equal(server.process.exitCode, null, 'still running while a connection is open');
      const closedAt = Date.now();
      await closeClient(client);
      assert.equal(await exitOf(server), 0);
      const exitMs = Date.now() - closedAt;
      assert.ok(exitMs < 3000, `exited ${exitMs} ms after the last connection closed`);
      assert.match(server.log(), /drained why=all-ended ended_by_themselves=2 closing_now=0/);
    } finally {
      await server.stop('SIGKILL');
      await peer.close();
      upstream.server.close();
      dir.remove();
    }
  });

  test('at the deadline a connection that never ends gets 1001 and the process exits', async () => {
    const peer = await tcpEcho();
    const server = await startWebsocksy(['-l', '127.0.0.1', '-p', '0', '--drain-timeout', '1.5', '-c', `host=${peer.address}`]);
    try {
      const client = await connect(server.url);
      await echoes(client, 'hello');
      const signalled = Date.now();
      server.process.kill('SIGTERM');
      const closed = await client.closed(10_000);
      const closedMs = Date.now() - signalled;
      assert.deepEqual(closed, { code: 1001, reason: 'Shutting down' });
      assert.ok(closedMs >= 1300 && closedMs < 6000, `closed ${closedMs} ms after SIGTERM, drain-timeout 1.5 s`);
      assert.equal(await exitOf(server), 0);
      assert.match(server.log(), /drained why=deadline ended_by_themselves=0 closing_now=1/);
    } finally {
      await server.stop('SIGKILL');
      await peer.close();
    }
  });

  test('a second signal during a drain closes what is left at once', async () => {
    const peer = await tcpEcho();
    const server = await startWebsocksy(['-l', '127.0.0.1', '-p', '0', '--drain-timeout', '60', '-c', `host=${peer.address}`]);
    try {
      const client = await connect(server.url);
      await echoes(client, 'hello');
      server.process.kill('SIGTERM');
      await server.waitForLog(/draining /);
      const signalled = Date.now();
      server.process.kill('SIGTERM');
      assert.deepEqual(await client.closed(5000), { code: 1001, reason: 'Shutting down' });
      assert.ok(Date.now() - signalled < 3000);
      assert.equal(await exitOf(server), 0);
      assert.match(server.log(), /second signal: closing what is left now/);
    } finally {
      await server.stop('SIGKILL');
      await peer.close();
    }
  });
});
