/*
 * The file backend in the real server: the peer is chosen per connection from files named by
 * the endpoint, a cookie or a header; traversal attempts find nothing; malformed lines are
 * skipped, not fatal; a slow peer for one connection never stalls another. The same suite runs
 * against the builtin TS backend and the C plugin (plugins/backend_file.c), which must agree.
 */
import assert from 'node:assert/strict';
import { rmSync, writeFileSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';
import { blackhole, skipWithoutPython, type Blackhole } from './helpers/blackhole.js';
import { closeClient, connect } from './helpers/client.js';
import { rawRequest, upgradeRequest } from './helpers/http.js';
import { streamServer, tempDir, type Peer } from './helpers/peers.js';
import { BUILT_PLUGINS } from './helpers/plugins.js';
import { startWebsocksy, type RunningWebsocksy } from './helpers/websocksy.js';

/** A tcp peer that greets with its name, so the test sees which one it reached. */
function namedPeer(name: string): ReturnType<typeof streamServer> {
  return streamServer((socket) => socket.write(`${name}\n`));
}

function fileBackendSuite(name: string, extra: readonly string[]): void {
  describe(name, () => {
    const dir = tempDir();
    const peers: Peer[] = [];
    let hole: Blackhole | null;
    let server: RunningWebsocksy;

    before(async () => {
      const [alpha, beta, gamma, fallback] = await Promise.all(['alpha', 'beta', 'gamma', 'fallback'].map(namedPeer));
      peers.push(alpha!, beta!, gamma!, fallback!);
      hole = await blackhole();
      writeFileSync(`${dir.path}/alpha.txt`, `${alpha!.address} * newline lf\n`);
      writeFileSync(`${dir.path}/session-42.txt`, `# by cookie\n${beta!.address} mqtt newline lf\n${gamma!.address} * newline lf\n`);
      writeFileSync(`${dir.path}/by-header.txt`, `${gamma!.address} * newline lf\n`);
      writeFileSync(`${dir.path}/slow.txt`, `tcp://127.0.0.1:${hole?.port ?? 9} * newline lf\n`);
      writeFileSync(`${dir.path}/default.txt`, `${fallback!.address} * newline lf\n`);
      writeFileSync(`${dir.path}/skips.txt`, `tcp://127.0.0.1:1\n${beta!.address} * newlin lf\n${alpha!.address} * newline lf\n`);
      const config = `${dir.path}/websocksy.cfg`;
      writeFileSync(
        config,
        [
          '[core]',
          'backend = file',
          'connect-timeout = 3',
          'allow-peers = tcp:127.0.0.1:*',
          '[backend]',
          `path = ${dir.path}`,
          'expression = %endpoint%.txt',
          'expression = %cookie:session%.txt',
          'expression = %header:X-Route%.txt',
          '',
        ].join('\n'),
      );
      server = await startWebsocksy([config, '-l', '127.0.0.1', '-p', '0', ...extra]);
    });

    after(async () => {
      await server.stop();
      hole?.close();
      for (const peer of peers) await peer.close();
      rmSync(`${dir.path}/../websocksy-outside.txt`, { force: true });
      dir.remove();
    });

    async function greeting(path: string, protocols?: string[], headers?: Record<string, string>): Promise<string> {
      const client = await connect(`${server.url}${path}`, protocols, headers);
      const message = await client.next();
      await closeClient(client);
      return message.data.toString().trim();
    }

    test('the endpoint names the file', async () => {
      assert.equal(await greeting('/alpha'), 'alpha');
      assert.equal(await greeting('/alpha/'), 'alpha');
    });

    test('a cookie names the file, and the subprotocol picks the line', async () => {
      assert.equal(await greeting('/nothing', ['mqtt'], { Cookie: 'a=1;session=session-42' }), 'beta');
      assert.equal(await greeting('/nothing', ['other'], { Cookie: 'a=1; session=session-42' }), 'gamma');
    });

    test('a header names the file, whatever the case of its name', async () => {
      assert.equal(await greeting('/nothing', undefined, { 'x-route': 'by-header' }), 'gamma');
    });

    test('no matching file gets 404', async () => {
      const answer = await rawRequest(server.port, upgradeRequest('/nothing'));
      assert.equal(answer.status, 404);
      await server.waitForLog(/refused .*endpoint=\/nothing .*status="404 Not Found"/);
    });

    test('a host-only line and an unknown framing are skipped with a warning; the next line serves', async () => {
      // Offering no subprotocol made the original dereference NULL on the host-only line.
      assert.equal(await greeting('/skips'), 'alpha');
      await server.waitForLog(/skips\.txt:1: line skipped: no subprotocol column/);
      await server.waitForLog(/skips\.txt:2: line skipped: unknown framing/);
      assert.equal(await greeting('/alpha'), 'alpha', 'the server goes on');
    });

    test('traversal attempts find nothing', async () => {
      writeFileSync(`${dir.path}/../websocksy-outside.txt`, 'tcp://127.0.0.1:1 *\n');
      // Paths that climb above the root are refused at the edge, before any backend sees them.
      for (const path of ['/..', '/../websocksy-outside', '/%2e%2e/websocksy-outside']) {
        const answer = await rawRequest(server.port, upgradeRequest(path));
        assert.equal(answer.status, 400, path);
      }
      for (const [path, headers] of [
        ['/x', ['Cookie: session=../websocksy-outside']],
        ['/x', ['X-Route: ../websocksy-outside']],
        ['/x', ['X-Route: ..']],
      ] as const) {
        const answer = await rawRequest(server.port, upgradeRequest(path, headers));
        assert.equal(answer.status, 404, `${path} ${headers.join(' ')}`);
      }
    });

    test('a slow peer for one client never stalls another', async (t) => {
      if (hole === null) {
        skipWithoutPython(t);
        return;
      }
      const slow = rawRequest(server.port, upgradeRequest('/slow'), 10_000);
      const started = Date.now();
      assert.equal(await greeting('/alpha'), 'alpha');
      assert.ok(Date.now() - started < 1500, 'the fast connection did not wait for the slow one');
      assert.equal((await slow).status, 504);
    });
  });
}

fileBackendSuite('file backend (builtin)', []);
fileBackendSuite('file backend (C plugin, build/plugins/backend_file.so)', ['-P', BUILT_PLUGINS]);
