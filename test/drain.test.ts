/*
 * SIGTERM's graceful drain (docs/operations.md, "Stopping and rolling restarts"): the port
 * refuses at once, what is open goes on until it ends or the deadline, then 1001 and exit; and
 * a rolling restart of two instances behind a real HAProxy (Debian's) that loses nothing.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { writeFileSync } from 'node:fs';
import { createServer, request, type Server } from 'node:http';
import { connect as tcpConnect } from 'node:net';
import { describe, test } from 'node:test';
import { closeClient, connect, type TestClient } from './helpers/client.js';
import { echoOf, send, startUpstream } from './helpers/http-upstream.js';
import { freePort, startInstance } from './helpers/instances.js';
import { tcpEcho, tempDir } from './helpers/peers.js';
import { findProgram, requireProgram, skipUnlessInstalled } from './helpers/tools.js';
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
      assert.equal(await server.exited(), 0);
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

  test('a connection accepted before SIGTERM whose request comes later: served in the drain\'s first second, 503 after it, never cut or 502', async () => {
    const dir = tempDir('websocksy-drain-late-');
    const peer = await tcpEcho();
    const upstream = await slowUpstream();
    writeFileSync(`${dir.path}/late.cfg`, `[core]\nlisten = 127.0.0.1\nport = 0\ndrain-timeout = 5\n[backend]\nhost = ${peer.address}\n[route /api]\nto = http://127.0.0.1:${upstream.port}\n`);
    const server = await startWebsocksy([`${dir.path}/late.cfg`]);
    /**
     * A connection accepted now (uWS accepts at once on an idle loop), whose request send() writes
     * later; it resolves with what came back once the connection closes or the answer ends
     * with `last` (uWS leaves a `Connection: close` answer's connection to the client to close).
     */
    const accepted = async (): Promise<{ send(request: string, last?: string): Promise<string> }> => {
      const socket = tcpConnect(server.port, '127.0.0.1');
      await once(socket, 'connect');
      await new Promise((resolve) => setTimeout(resolve, 100));
      return {
        send: (request, last) =>
          new Promise((resolve) => {
            let answer = '';
            const done = (): void => {
              socket.destroy();
              resolve(answer);
            };
            socket.on('data', (chunk: Buffer) => {
              answer += chunk.toString('latin1');
              if (last !== undefined && answer.endsWith(last)) done();
            });
            socket.once('close', done);
            socket.write(request);
          }),
      };
    };
    const routeRequest = 'GET /api/slow?ms=0 HTTP/1.1\r\nHost: x\r\n\r\n';
    const upgrade = 'GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n';
    try {
      const [early, earlyUpgrade, late] = [await accepted(), await accepted(), await accepted()];
      server.process.kill('SIGTERM');
      await server.waitForLog(/draining signal=SIGTERM websockets=0 sessions=0 streams=0 requests=0/);
      await new Promise((resolve) => setTimeout(resolve, 300));
      const served = await early.send(routeRequest, 'done after 0 ms\n');
      assert.match(served, /^HTTP\/1\.1 200 /);
      assert.match(served, /\r\nConnection: close\r\n/i);
      assert.match(served, /done after 0 ms\n$/);
      assert.match(await earlyUpgrade.send(upgrade), /^HTTP\/1\.1 503 /);
      await server.waitForLog(/ shutting down signal=SIGTERM/);
      const refused = await late.send(routeRequest);
      assert.match(refused, /^HTTP\/1\.1 503 /);
      assert.match(refused, /\r\nConnection: close\r\n/i);
      assert.equal(await server.exited(), 0);
      const drainedMs = Number(/drained why=all-ended .*closing_now=0 ms=(\d+)/.exec(server.log())?.[1]);
      assert.ok(drainedMs >= 1000, `the drain gave first requests a second (${drainedMs} ms)`);
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
      assert.equal(await server.exited(), 0);
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
      assert.equal(await server.exited(), 0);
      assert.match(server.log(), /second signal: closing what is left now/);
    } finally {
      await server.stop('SIGKILL');
      await peer.close();
    }
  });
});

const HAPROXY = findProgram(['/usr/sbin/haproxy', '/usr/bin/haproxy']);

/** Resolves once `port` accepts connections (bounded). */
async function accepting(port: number): Promise<void> {
  for (let attempt = 0; attempt < 100; attempt++) {
    if ((await connectOutcome(port)) === 'connected') return;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  assert.fail(`nothing listens on ${port}`);
}

/**
 * The HAProxy set-up docs/operations.md shows for rolling restarts: a check every 100 ms marks a
 * closed listener down, and so does the first connection it refuses (observe layer4);
 * `http-server-close` opens a new server connection per request (a pooled one to a draining
 * instance could be cut under the next request); a connection a
 * closed listener refuses, an upgrade refused with 503 as the drain began, or a request the kernel
 * reset when the listener closed (empty-response), is retried on another server. Errors are
 * logged with their termination state, so a failure says what HAProxy saw.
 * Four server slots: the two first instances and the two that replace them.
 */
function haproxyConfig(port: number, servers: readonly number[]): string {
  return [
    'global', '  log stderr format raw local0 warning',
    'defaults', '  log global', '  option httplog', '  option dontlog-normal', '  option log-separate-errors', '  mode http', '  timeout connect 2s', '  timeout client 30s', '  timeout server 30s', '  timeout tunnel 30s',
    '  option http-server-close', '  retries 3', '  option redispatch 1', '  retry-on conn-failure empty-response 503',
    'frontend in', `  bind 127.0.0.1:${port}`, '  default_backend websocksy',
    'backend websocksy', '  balance roundrobin', '  default-server check inter 100ms fall 1 rise 1 observe layer4 error-limit 1 on-error mark-down',
    ...servers.map((server, i) => `  server s${i} 127.0.0.1:${server}`),
    '',
  ].join('\n');
}

interface Load {
  /** Successful HTTP requests per instance name (the upstream path each instance's route adds). */
  readonly served: Map<string, number>;
  /** WebSocket connections that echoed every message and closed cleanly. */
  readonly sockets: { ok: number };
  readonly failures: string[];
  stop(): Promise<void>;
}

/** Messages each WebSocket of the load echoes before it closes. */
const WS_MESSAGES = 5;

/**
 * `httpLoops` clients sending keep-alive GETs through `port`, and `wsLoops` clients each opening
 * a WebSocket to the bridge, echoing a few messages and closing it, over and over, until stop().
 */
function startLoad(port: number, httpLoops: number, wsLoops: number): Load {
  const served = new Map<string, number>();
  const sockets = { ok: 0 };
  const failures: string[] = [];
  let running = true;
  const started = Date.now();
  // Bounded in count and in time, whatever happens to stop().
  const going = (i: number): boolean => running && i < 100_000 && Date.now() - started < 120_000;
  const httpLoop = async (): Promise<void> => {
    for (let i = 0; going(i); i++) {
      try {
        const reply = await send(port, `/api/r${i}`);
        const instance = reply.status === 200 ? /^\/(\w+)\//.exec(echoOf(reply).url)?.[1] : undefined;
        if (instance === undefined) failures.push(`HTTP ${reply.status} ${reply.text.slice(0, 80)}`);
        else served.set(instance, (served.get(instance) ?? 0) + 1);
      } catch (error) {
        failures.push(`HTTP request: ${(error as Error).message}`);
      }
    }
  };
  const wsLoop = async (loop: number): Promise<void> => {
    for (let i = 0; going(i); i++) {
      let client: TestClient | null = null;
      try {
        client = await connect(`ws://127.0.0.1:${port}/echo`);
        for (let m = 0; m < WS_MESSAGES; m++) {
          const text = `w${loop}-${i}-${m}`;
          client.ws.send(Buffer.from(text));
          const echoed = (await client.next()).data.toString();
          if (echoed !== text) throw new Error(`echo ${echoed} for ${text}`);
        }
        client.ws.close(1000);
        const { code } = await client.closed();
        if (code !== 1000) throw new Error(`closed with ${code}`);
        sockets.ok++;
      } catch (error) {
        failures.push(`WebSocket: ${(error as Error).message}`);
        if (client !== null) await closeClient(client);
      }
    }
  };
  const loops = [...Array.from({ length: httpLoops }, httpLoop), ...Array.from({ length: wsLoops }, (_, loop) => wsLoop(loop))];
  return {
    served,
    sockets,
    failures,
    stop: async () => {
      running = false;
      await Promise.all(loops);
    },
  };
}

describe('rolling restart of two instances behind HAProxy', { skip: skipUnlessInstalled(HAPROXY !== undefined, 'haproxy') }, () => {
  test('HTTP route requests and bridged WebSockets through HAProxy: none fails, both new instances serve', { timeout: 120_000 }, async (t) => {
    const program = requireProgram(HAPROXY, 'haproxy');
    const dir = tempDir('websocksy-rolling-');
    const upstream = await startUpstream();
    const peer = await tcpEcho();
    const instances: RunningWebsocksy[] = [];
    let haproxy: ChildProcess | null = null;
    let haproxyLog = '';
    let load: Load | null = null;
    const start = async (name: string, port: number): Promise<RunningWebsocksy> => {
      const instance = await startInstance(dir.path, name, [
        '[core]', 'listen = 127.0.0.1', `port = ${port}`, 'drain-timeout = 20',
        '[backend]', `host = ${peer.address}`, 'framing = binary',
        '[route /api]', `to = http://127.0.0.1:${upstream.port}/${name}/`,
        '',
      ].join('\n'));
      instances.push(instance);
      return instance;
    };
    /** SIGTERM `old` and start its replacement at once; resolves once `old` has drained and exited. */
    const replace = async (old: RunningWebsocksy, name: string, port: number): Promise<void> => {
      old.process.kill('SIGTERM');
      await start(name, port);
      assert.equal(await old.exited(), 0);
      assert.match(old.log(), /drained why=all-ended/);
    };
    try {
      const [portA, portB, portC, portD, front] = [await freePort(), await freePort(), await freePort(), await freePort(), await freePort()];
      const first = await start('a', portA);
      const second = await start('b', portB);
      writeFileSync(`${dir.path}/haproxy.cfg`, haproxyConfig(front, [portA, portB, portC, portD]));
      haproxy = spawn(program, ['-f', `${dir.path}/haproxy.cfg`, '-db'], { stdio: ['ignore', 'inherit', 'pipe'] });
      haproxy.stderr?.on('data', (chunk: Buffer) => (haproxyLog += chunk.toString()));
      await accepting(front);
      // A new instance's first connections are the ones uWS 20.30's corked late upgrade used to
      // close right after their 101 (docs/engine.md): these loops meet every one of them.
      load = startLoad(front, 6, 4);
      const pause = (): Promise<void> => new Promise((resolve) => setTimeout(resolve, 1000));
      await pause();
      await replace(first, 'c', portC);
      await pause();
      await replace(second, 'd', portD);
      await pause();
      await load.stop();
      t.diagnostic(`HTTP requests served: ${JSON.stringify(Object.fromEntries(load.served))}; WebSockets echoed and closed: ${load.sockets.ok}`);
      // What a failure needs to be understood: the instances' warnings and refusals, and HAProxy's
      // requests that ended badly (termination state other than ----) and servers' ups and downs.
      const instanceTrouble = instances.flatMap((instance) => instance.log().split('\n').filter((line) => / (warn|error) |refused/.test(line) && !line.includes('engine caveat')));
      const haproxyTrouble = haproxyLog.split('\n').filter((line) => line !== '' && !line.includes(' ---- '));
      assert.deepEqual(load.failures, [], [`${load.failures.length} failed: ${load.failures.slice(0, 5).join('; ')}`, 'the instances\' warnings and refusals:', ...instanceTrouble.slice(-15), 'HAProxy\'s errors and server changes:', ...haproxyTrouble.slice(-15)].join('\n'));
      assert.ok(load.sockets.ok > 10, 'the WebSocket loops ran');
      for (const name of ['a', 'b', 'c', 'd']) assert.ok((load.served.get(name) ?? 0) > 0, `instance ${name} served HTTP requests`);
    } finally {
      await load?.stop();
      if (haproxy !== null && haproxy.exitCode === null) {
        haproxy.kill('SIGTERM');
        await once(haproxy, 'exit');
      }
      for (const instance of instances) await instance.stop('SIGKILL');
      await peer.close();
      await upstream.close();
      dir.remove();
    }
  });
});
