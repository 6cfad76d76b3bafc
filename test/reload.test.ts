/*
 * SIGHUP reloads the whole configuration (src/server/server.ts): under a churn of 16 clients,
 * a reload that changes the backend's peer and a route's upstream fails no connection; new
 * connections meet the new configuration while open ones keep theirs; a configuration with
 * errors is refused with every error named and the old one serves on; a change of listener is
 * refused; a reload that needs a new listener (new message limits) swaps it; the previous
 * configuration is closed once its last WebSocket ends.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { after, before, describe, test } from 'node:test';
import { closeClient, connect, type TestClient } from './helpers/client.js';
import { send } from './helpers/http-upstream.js';
import { streamServer, tempDir, type Peer } from './helpers/peers.js';
import { startWebsocksy, type RunningWebsocksy } from './helpers/websocksy.js';
import { freePort } from './helpers/instances.js';
import { BACKEND_CORE_KEYS } from '../src/config/apply.js';
import { findCoreOption } from '../src/config/core-options.js';
import { KEPT_CORE_KEYS } from '../src/config/reload-scope.js';

/** A TCP peer that answers every chunk with `tag:` and the chunk. */
function taggedEcho(tag: string): ReturnType<typeof streamServer> {
  return streamServer((socket) => socket.on('data', (chunk: Buffer) => socket.write(Buffer.concat([Buffer.from(`${tag}:`), chunk]))));
}

/** An HTTP upstream that answers every request with `tag`. */
async function taggedUpstream(tag: string): Promise<{ port: number; server: Server }> {
  const server = createServer((_req, res) => res.end(tag));
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return { port: (server.address() as { port: number }).port, server };
}

async function echo(client: TestClient, text: string): Promise<string> {
  client.ws.send(text);
  let answer = '';
  // The peer may answer one message in pieces; the tag comes first.
  while (!answer.endsWith(text)) answer += (await client.next()).data.toString();
  return answer;
}

test('the [core] keys a reload compares are [core] options (a misspelt one would never differ)', () => {
  // `backend` is the one [core] key applySettings takes itself rather than through the option table.
  for (const key of [...KEPT_CORE_KEYS, ...BACKEND_CORE_KEYS]) assert.ok(key === 'backend' || findCoreOption(key) !== undefined, `${key} is not a [core] option`);
});

describe('reload on SIGHUP', () => {
  const dir = tempDir('websocksy-reload-');
  const config = `${dir.path}/websocksy.cfg`;
  let peers: Peer[];
  let upstreams: Array<{ port: number; server: Server }>;
  let server: RunningWebsocksy;
  let port: number;
  let reloads = 0;

  /** The config: `backend` defaultpeer straight to `peer`, or the file backend reading `peer` from a peer file. */
  const write = (backend: 'defaultpeer' | 'file', peer: Peer, upstream: number, extra = ''): void => {
    const backendPart =
      backend === 'defaultpeer'
        ? `${extra}[backend]\nhost = ${peer.address}\n`
        : `backend = file\nallow-peers = tcp:127.0.0.1:1-65535\n${extra}[backend]\npath = ${dir.path}\nexpression = default.txt\n`;
    // Renamed into place: the running file backend reads the file at every query.
    writeFileSync(`${dir.path}/default.tmp`, `${peer.address} *\n`);
    renameSync(`${dir.path}/default.tmp`, `${dir.path}/default.txt`);
    writeFileSync(config, `listen = 127.0.0.1\nport = ${port}\nhandshake-timeout = 1\n${backendPart}[route /api]\nto = http://127.0.0.1:${upstream}\n`);
  };
  const lineOf = (text: string): number => readFileSync(config, 'utf8').split('\n').indexOf(text) + 1;

  async function reload(): Promise<string> {
    reloads++;
    server.process.kill('SIGHUP');
    const pattern = new RegExp(`((reloaded generation=|reload refused)[^\\n]*\\n[^]*){${reloads}}`);
    await server.waitForLog(pattern);
    return server.log().split('\n').filter((line) => /reloaded generation=|reload refused/.test(line)).at(-1) ?? '';
  }

  before(async () => {
    peers = [await taggedEcho('A'), await taggedEcho('B'), await taggedEcho('C')];
    upstreams = [await taggedUpstream('one'), await taggedUpstream('two')];
    port = await freePort();
    write('defaultpeer', peers[0] as Peer, upstreams[0]?.port as number);
    server = await startWebsocksy([config]);
  });
  after(async () => {
    await server.stop();
    for (const peer of peers) await peer.close();
    for (const upstream of upstreams) upstream.server.close();
    dir.remove();
  });

  /** `parallel` clients, each opening a connection, echoing a few messages and closing, until stopped; tags seen after `mark`. */
  function churn(parallel: number): { stop(): Promise<{ ok: number; failures: string[] }> } {
    let running = true;
    let ok = 0;
    const failures: string[] = [];
    const worker = async (index: number): Promise<void> => {
      for (let round = 0; running && round < 10_000; round++) {
        try {
          const client = await connect(`ws://127.0.0.1:${port}/`);
          try {
            for (let i = 0; i < 3; i++) {
              const text = `c${index}r${round}m${i}`;
              const answer = await echo(client, text);
              if (!/^[A-C]:/.test(answer)) throw new Error(`answer ${answer}`);
            }
          } finally {
            await closeClient(client);
          }
          ok++;
        } catch (error) {
          failures.push((error as NodeJS.ErrnoException).code ?? (error as Error).message);
        }
      }
    };
    const workers = Array.from({ length: parallel }, (_, index) => worker(index));
    return {
      stop: async () => {
        running = false;
        await Promise.all(workers);
        return { ok, failures };
      },
    };
  }

  test('16 clients churn through a reload that changes the backend and a route: none fails, new connections meet the new configuration, open ones keep theirs', async (t) => {
    const live = await connect(`ws://127.0.0.1:${port}/`);
    try {
      assert.equal(await echo(live, 'before').catch((error: Error) => `${error.message}; log:\n${server.log()}`), 'A:before');
      assert.equal((await send(port, '/api/x')).text, 'one');
      const load = churn(16);
      await new Promise((resolve) => setTimeout(resolve, 400));
      write('file', peers[1] as Peer, upstreams[1]?.port as number);
      assert.match(await reload(), /reloaded generation=1 listener="in place" backend=file routes=1/);
      await new Promise((resolve) => setTimeout(resolve, 400));
      const { ok, failures } = await load.stop();
      t.diagnostic(`churn: ${ok} connections ok, ${failures.length} failed`);
      assert.ok(ok > 16, 'the churn ran');
      assert.deepEqual(failures, []);
      assert.equal(await echo(live, 'after'), 'A:after', 'an open connection keeps its peer');
      const fresh = await connect(`ws://127.0.0.1:${port}/`);
      assert.equal(await echo(fresh, 'new'), 'B:new', 'a new connection meets the new backend');
      await closeClient(fresh);
      assert.equal((await send(port, '/api/x')).text, 'two', 'a keep-alive HTTP connection meets the new route');
    } finally {
      await closeClient(live);
    }
    // The previous configuration closes once its last WebSocket has (after handshake-timeout, 1 s).
    await server.waitForLog(/previous configuration closed generation=0/, 5000);
  });

  test('a configuration with errors is refused, each error named with its line, and the running one serves on', async () => {
    write('file', peers[1] as Peer, upstreams[0]?.port as number, 'max-mesage = 4\n');
    writeFileSync(config, `${readFileSync(config, 'utf8')}[route /bad]\nto = nowhere\n`);
    const line = await reload();
    assert.match(line, /error reload refused: the running configuration stays/);
    assert.match(line, new RegExp(`websocksy\\.cfg:${lineOf('max-mesage = 4')} \\[core\\]: unknown core option \\\\"max-mesage`));
    assert.match(line, new RegExp(`websocksy\\.cfg:${lineOf('to = nowhere')} \\[route /bad\\]: to: `));
    const client = await connect(`ws://127.0.0.1:${port}/`);
    assert.equal(await echo(client, 'still'), 'B:still');
    await closeClient(client);
    assert.equal((await send(port, '/api/x')).text, 'two');
  });

  test('a change of listener is refused: a restart applies it', async () => {
    write('file', peers[1] as Peer, upstreams[1]?.port as number);
    writeFileSync(config, readFileSync(config, 'utf8').replace(/^port = \d+$/m, `port = ${await freePort()}`));
    assert.match(await reload(), /reload refused.*the listeners changed .*a restart applies that/);
    write('file', peers[1] as Peer, upstreams[1]?.port as number);
    assert.match(await reload(), /reloaded generation=2/);
  });

  test('new message limits take a new listener on the same port; open connections keep theirs', async (t) => {
    const live = await connect(`ws://127.0.0.1:${port}/`);
    try {
      const load = churn(8);
      await new Promise((resolve) => setTimeout(resolve, 300));
      write('file', peers[2] as Peer, upstreams[0]?.port as number, 'max-message = 65536\n');
      assert.match(await reload(), /reloaded generation=3 listener="new listener \(the message or buffer limits of \S+ changed\)"/);
      await new Promise((resolve) => setTimeout(resolve, 300));
      const { ok, failures } = await load.stop();
      t.diagnostic(`churn through the new listener: ${ok} ok, ${failures.length} failed (${failures.join(',')})`);
      // Closing the old listen socket resets what waits in its accept queue, unless the kernel
      // migrates it (net.ipv4.tcp_migrate_req; docs/operations.md).
      assert.ok(failures.every((code) => code === 'ECONNRESET'), failures.join(','));
      assert.equal(await echo(live, 'old limits'), 'B:old limits');
      const fresh = await connect(`ws://127.0.0.1:${port}/`);
      assert.equal(await echo(fresh, 'new limits'), 'C:new limits');
      fresh.ws.send(Buffer.alloc(70_000));
      assert.equal((await fresh.closed()).code, 1009, 'the new max-message applies');
    } finally {
      await closeClient(live);
    }
  });
});
