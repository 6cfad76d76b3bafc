/*
 * A websocket route whose upstream is Python's `websockets` server (Debian's python3-websockets,
 * run by test/python/relay_upstream.py), so that websocksy's own WebSocket client meets a server
 * nobody here wrote: the subprotocol it picks from those offered, text and binary both ways,
 * a text message it sends in fragments (multi-byte characters across them), a 3 MiB message,
 * its pings every 50 ms (unanswered, it would drop the connection within a second), and close
 * codes and reasons both ways. Twenty clients at once, through the route.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { after, before, describe, test } from 'node:test';
import WebSocket from 'ws';
import { tempDir } from './helpers/peers.js';
import { requireProgram, skipUnlessInstalled } from './helpers/tools.js';
import { ROOT, startWebsocksy, type RunningWebsocksy } from './helpers/websocksy.js';

/** Debian's python, which has the package (a python3 earlier on PATH may not). */
const PYTHON = '/usr/bin/python3';
const INSTALLED = spawnSync(PYTHON, ['-c', 'import websockets'], { stdio: 'ignore' }).status === 0 ? PYTHON : undefined;
const CLIENTS = 20;
const BIG = 3 * 1024 * 1024;

/** Messages of one client, in order, and how it ended. */
class Client {
  readonly messages: Array<{ readonly data: Buffer; readonly binary: boolean }> = [];
  private waiters: Array<() => void> = [];
  readonly ended: Promise<[number, string]>;

  constructor(readonly ws: WebSocket) {
    ws.on('message', (data: Buffer, binary: boolean) => {
      this.messages.push({ data, binary });
      for (const wake of this.waiters.splice(0)) wake();
    });
    this.ended = new Promise((resolve) => ws.once('close', (code: number, reason: Buffer) => resolve([code, reason.toString()])));
  }

  /** The next message, within 10 s. */
  async next(): Promise<{ readonly data: Buffer; readonly binary: boolean }> {
    const deadline = Date.now() + 10_000;
    while (this.messages.length === 0) {
      if (Date.now() > deadline) assert.fail('no message within 10 s');
      await new Promise<void>((resolve) => {
        this.waiters.push(resolve);
        setTimeout(resolve, 100);
      });
    }
    return this.messages.shift() as { readonly data: Buffer; readonly binary: boolean };
  }
}

describe('a websocket route to Python\'s websockets server', { skip: skipUnlessInstalled(INSTALLED !== undefined, 'python3-websockets (apt-get install python3-websockets)') }, () => {
  const dir = tempDir('websocksy-route-python-');
  let python: ChildProcess;
  let server: RunningWebsocksy;
  const closes: string[] = [];

  before(async () => {
    python = spawn(requireProgram(INSTALLED, 'python3-websockets'), [join(ROOT, 'test/python/relay_upstream.py')], { stdio: ['ignore', 'pipe', 'inherit'] });
    const lines = createInterface({ input: python.stdout as NodeJS.ReadableStream });
    let timer: NodeJS.Timeout | undefined;
    const started = new Promise((_, reject) => (timer = setTimeout(() => reject(new Error('relay_upstream.py did not start')), 10_000)));
    const [first] = (await Promise.race([once(lines, 'line'), started]).finally(() => clearTimeout(timer))) as [string];
    lines.on('line', (line: string) => closes.push(line));
    writeFileSync(`${dir.path}/route.cfg`, `[core]\nlisten = 127.0.0.1\nport = 0\n[route /py]\nwebsocket = ws://127.0.0.1:${Number(first)}/\n`);
    server = await startWebsocksy([`${dir.path}/route.cfg`]);
  });

  after(async () => {
    await server?.stop();
    python?.kill();
    dir.remove();
  });

  async function open(): Promise<Client> {
    const ws = new WebSocket(`ws://127.0.0.1:${server.port}/py/room`, ['x-unknown', 'v2.chat']);
    const client = new Client(ws);
    await once(ws, 'open');
    return client;
  }

  test(`${CLIENTS} clients: subprotocol, echoes, fragments, 3 MiB, pings over 1.5 s, the server's close code`, { timeout: 60_000 }, async () => {
    const pattern = Buffer.alloc(BIG);
    for (let i = 0; i < BIG; i++) pattern[i] = i % 251;
    const closesBefore = closes.length;
    await Promise.all(
      Array.from({ length: CLIENTS }, async (_, i) => {
        const client = await open();
        assert.equal(client.ws.protocol, 'v2.chat');
        client.ws.send(`hello ${i}`);
        const binary = Buffer.from(Array.from({ length: 100_000 }, (_, n) => (n * 7 + i) % 256));
        client.ws.send(binary);
        const text = `${i}:` + 'é€𝄞a'.repeat(3000);
        client.ws.send(`frag:7:${text}`);
        client.ws.send(`bin:${BIG}`);
        assert.deepEqual(await client.next(), { data: Buffer.from(`hello ${i}`), binary: false });
        const echoed = await client.next();
        assert.ok(echoed.binary && echoed.data.equals(binary), 'binary echo');
        const joined = await client.next();
        assert.equal(joined.binary, false);
        assert.equal(joined.data.toString(), text);
        const big = await client.next();
        assert.ok(big.binary && big.data.equals(pattern), '3 MiB message');
        // Python pings every 50 ms and drops a connection whose pong is a second late.
        await new Promise((resolve) => setTimeout(resolve, 1500));
        client.ws.send('still here');
        assert.equal((await client.next()).data.toString(), 'still here');
        client.ws.send('close:4321');
        assert.deepEqual(await client.ended, [4321, 'bye from python']);
      }),
    );
    for (const deadline = Date.now() + 5000; closes.length < closesBefore + CLIENTS && Date.now() < deadline; ) await new Promise((resolve) => setTimeout(resolve, 20));
    // Python reports the code of the close frame that answered its own (the code, echoed; no reason).
    assert.deepEqual(closes.slice(closesBefore), Array.from({ length: CLIENTS }, () => 'closed 4321 '));
  });

  test('a client\'s close code and reason reach the server, after the message sent just before', { timeout: 30_000 }, async () => {
    const closesBefore = closes.length;
    const client = await open();
    client.ws.send('last words');
    client.ws.close(4000, 'client done');
    const [code] = await client.ended;
    assert.equal(code, 4000);
    for (const deadline = Date.now() + 5000; closes.length === closesBefore && Date.now() < deadline; ) await new Promise((resolve) => setTimeout(resolve, 20));
    assert.deepEqual(closes.slice(closesBefore), ['closed 4000 client done']);
  });
});
