/*
 * The benchmark's anchors (bench/anchors/) start and carry data. They are plain .mjs files run
 * by `make bench`, outside the compiler's reach: when engine selection became asynchronous, both
 * uWS anchors broke, and nothing showed it until a bench run died in its connections workload.
 * Each anchor here gets one round trip through it, with the arguments the bench gives it.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import { dirname, join } from 'node:path';
import { after, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { closeClient, connect, echoesWhole } from './helpers/client.js';
import { tcpEcho } from './helpers/peers.js';
import { stopProgram } from './helpers/programs.js';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const STARTED_WITHIN_MS = 10_000;

const running: ChildProcess[] = [];
after(async () => {
  await Promise.all(running.map((child) => stopProgram(child)));
});

/** Starts `anchor` with `args` and resolves with the port its `listening` line names. */
async function startAnchor(anchor: string, args: readonly string[]): Promise<number> {
  const child = spawn(process.execPath, [join('bench', 'anchors', anchor), ...args], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  running.push(child);
  let output = '';
  const port = new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${anchor}: no listening line within ${STARTED_WITHIN_MS} ms; output: ${output}`)), STARTED_WITHIN_MS);
    const read = (chunk: Buffer): void => {
      output += chunk.toString();
      const match = /listening (?:port=)?(\d+)/.exec(output);
      if (match === null) return;
      clearTimeout(timer);
      resolve(Number(match[1]));
    };
    child.stdout.on('data', read);
    child.stderr.on('data', read);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`${anchor} exited with ${String(code)}: ${output}`));
    });
  });
  return port;
}

describe('the benchmark anchors', () => {
  for (const [anchor, extra] of [
    ['bare-uws-bridge.mjs', []],
    ['bare-uws-bridge.mjs', ['no-proto']],
    ['naive-ws-bridge.mjs', []],
  ] as const) {
    test(`${[anchor, ...extra].join(' ')} bridges a WebSocket client to a TCP echo`, async () => {
      const echo = await tcpEcho();
      try {
        const port = await startAnchor(anchor, ['0', '127.0.0.1', echo.address.split(':').at(-1) ?? '', ...extra]);
        const client = await connect(`ws://127.0.0.1:${port}/`);
        await echoesWhole(client, Buffer.alloc(100_000, 7));
        await closeClient(client);
      } finally {
        await echo.close();
      }
    });
  }

  test('bare-uws-route.mjs proxies a GET to an HTTP upstream', async () => {
    const body = 'x'.repeat(1024);
    const upstream: Server = createServer((_request, response) => response.writeHead(200, { 'content-length': body.length }).end(body));
    upstream.listen(0, '127.0.0.1');
    await once(upstream, 'listening');
    try {
      const address = upstream.address();
      assert.ok(address !== null && typeof address === 'object');
      const port = await startAnchor('bare-uws-route.mjs', ['0', '127.0.0.1', String(address.port)]);
      for (let i = 0; i < 3; i++) {
        const response = await fetch(`http://127.0.0.1:${port}/r`);
        assert.equal(response.status, 200);
        assert.equal(await response.text(), body);
      }
    } finally {
      upstream.closeAllConnections();
      upstream.close();
    }
  });
});
