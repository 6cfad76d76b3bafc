/*
 * Python's WebSocket clients (Debian's python3-websockets and python3-websocket, run by
 * test/python/clients.py with the system's /usr/bin/python3) through websocksy to a recording
 * tcp peer: fragmented messages, pings between fragments, messages of several MiB, and
 * send-then-close. The peer must get every byte of every connection, and the close lines must
 * count exactly that.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { assertCloseLinesCount, assertDelivered, type Expected } from './helpers/delivery.js';
import { recordingStreamPeer } from './helpers/recorders.js';
import { requireProgram, skipUnlessInstalled } from './helpers/tools.js';
import { ROOT, startWebsocksy } from './helpers/websocksy.js';

/** Debian's python, which has the packages (a python3 earlier on PATH may not). */
const PYTHON = '/usr/bin/python3';
const SCRIPT = join(ROOT, 'test/python/clients.py');
const INSTALLED = spawnSync(PYTHON, ['-c', 'import websockets, websocket'], { stdio: 'ignore' }).status === 0 ? PYTHON : undefined;

interface Report extends Expected {
  readonly code: number | null;
}

/** Runs one case of clients.py; resolves with one report per connection. */
async function runClients(python: string, name: string, url: string, count: number, size: number, timeoutMs: number): Promise<Report[]> {
  const child = spawn(python, [SCRIPT, name, url, String(count), String(size)], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
  const [code] = (await once(child, 'exit')) as [number | null];
  clearTimeout(timer);
  assert.equal(code, 0, `clients.py ${name} failed:\n${stderr}`);
  return stdout
    .trim()
    .split('\n')
    .map((line) => JSON.parse(line) as Report);
}

interface Case {
  readonly name: string;
  readonly what: string;
  readonly count: number;
  /** Bytes per fragment or message (clients.py varies it a little per connection). */
  readonly size: number;
  readonly websocksyArgs: readonly string[];
}

const MiB = 1024 * 1024;

const CASES: readonly Case[] = [
  { name: 'websockets-fragmented', what: 'websockets: text and binary messages sent as 10 and 20 fragments', count: 50, size: 1000, websocksyArgs: [] },
  { name: 'websockets-fragmented', what: 'websockets: 6 MiB messages in 20 fragments, --max-message 16m', count: 10, size: 300 * 1024, websocksyArgs: ['--max-message', '16m'] },
  { name: 'websockets-ping-between-fragments', what: 'websockets: a ping, answered, between each two fragments', count: 50, size: 1000, websocksyArgs: [] },
  { name: 'websockets-send-then-close', what: 'websockets: await send(x); await close()', count: 50, size: 1000, websocksyArgs: [] },
  { name: 'websockets-send-then-close', what: 'websockets: await send(5 MiB); await close(), --max-message 16m', count: 10, size: 5 * MiB, websocksyArgs: ['--max-message', '16m'] },
  { name: 'websocket-client-send-then-close', what: 'websocket-client: send(x); close()', count: 50, size: 1000, websocksyArgs: [] },
  // The 101 before the peer connect: what a client sends at once may come before the peer is there.
  { name: 'websockets-send-then-close', what: 'websockets: await send(x); await close(), --early-upgrade', count: 50, size: 1000, websocksyArgs: ['--early-upgrade'] },
  { name: 'websocket-client-send-then-close', what: 'websocket-client: send(x); close(), --early-upgrade', count: 50, size: 1000, websocksyArgs: ['--early-upgrade'] },
  { name: 'websockets-fragmented', what: 'websockets: text and binary messages sent as 10 and 20 fragments, --early-upgrade', count: 50, size: 1000, websocksyArgs: ['--early-upgrade'] },
];

describe('Python WebSocket clients through websocksy', { skip: skipUnlessInstalled(INSTALLED !== undefined, 'python3-websockets or python3-websocket (apt-get install python3-websockets python3-websocket)') }, () => {
  for (const one of CASES) {
    test(`${one.what}: ${one.count} connections, the peer gets every byte`, { timeout: 120_000 }, async () => {
      const python = requireProgram(INSTALLED, 'python3-websockets and python3-websocket');
      const peer = await recordingStreamPeer();
      const server = await startWebsocksy(['-l', '127.0.0.1', '-p', '0', ...one.websocksyArgs, '-c', `host=${peer.address}`]);
      try {
        let reports: Report[];
        try {
          reports = await runClients(python, one.name, server.url, one.count, one.size, 90_000);
        } catch (error) {
          // A rare connection end without a close frame under load has not been caught standalone:
          // websocksy's own account of the connections that did not close cleanly goes with it.
          const unclean = server.log().split('\n').filter((line) => /code=(?!1000\b)\d+|internal error|refused/.test(line));
          throw new Error(`${(error as Error).message}\nwebsocksy's lines for connections that did not close with 1000:\n${unclean.slice(-20).join('\n')}`, { cause: error });
        }
        assert.equal(reports.length, one.count);
        // websocket-client does not keep the close code it read.
        for (const report of reports) if (report.code !== null) assert.equal(report.code, 1000);
        await assertDelivered(peer, reports);
        await assertCloseLinesCount(server, reports);
      } finally {
        await server.stop();
        await peer.close();
      }
    });
  }
});
