/*
 * websocksy behind Apache httpd and Caddy, each run from the block README.md documents
 * ("Apache httpd or Caddy in front"), as nginx is in nginx.test.ts. Through each front: the
 * bridge's messages byte for byte, the client's address believed from the front's
 * X-Forwarded-For (the client binds 127.0.0.2, the front is 127.0.0.1), a peer's last words
 * before it closes, and an HTTP route, also for an HTTP/1.0 client, which websocksy's engine
 * would hold unanswered were it reached directly (docs/engine.md). Apache closes a WebSocket
 * that stays quiet for its Timeout: websocksy's pings must keep an idle one open.
 */
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { closeClient, connectWith, echoesWhole, type TestClient } from './helpers/client.js';
import { curl } from './helpers/curl.js';
import { documented } from './helpers/docs.js';
import { APACHE, CADDY, startApache, startCaddy } from './helpers/fronts.js';
import { startUpstream, type EchoBody, type Upstream } from './helpers/http-upstream.js';
import { freePort } from './helpers/instances.js';
import { streamServer, tcpEcho, tempDir, type Peer } from './helpers/peers.js';
import { accepting, stopProgram } from './helpers/programs.js';
import { requireProgram, skipUnlessInstalled } from './helpers/tools.js';
import { startWebsocksy, type RunningWebsocksy } from './helpers/websocksy.js';

const HEADING = '### Apache httpd or Caddy in front';
const CLIENT = '127.0.0.2';

function connectFrom(url: string): Promise<TestClient> {
  return connectWith(url, undefined, { perMessageDeflate: false, localAddress: CLIENT });
}

/** The README's block for `lang`, aimed at websocksy on `port` (and, for Caddy, served on `front`). */
function readmeBlock(lang: 'apache' | 'caddy', port: number, front: number): string {
  return documented(HEADING, lang, 'README.md').replaceAll('127.0.0.1:8001', `127.0.0.1:${port}`).replace('example.com', `http://127.0.0.1:${front}`);
}

interface Front {
  readonly name: string;
  readonly program: string | undefined;
  /** Starts the front on `port` in front of websocksy on `upstream`; `extra` are more Apache directives. */
  start(program: string, dir: string, port: number, upstream: number, extra?: string): ChildProcess;
}

const APACHE_FRONT: Front = {
  name: 'Apache httpd',
  program: APACHE,
  start: (program, dir, port, upstream, extra = '') => startApache(program, dir, port, `${readmeBlock('apache', upstream, port)}\n${extra}`),
};
const CADDY_FRONT: Front = { name: 'Caddy', program: CADDY, start: (program, dir, port, upstream) => startCaddy(program, dir, readmeBlock('caddy', upstream, port)) };

for (const front of [APACHE_FRONT, CADDY_FRONT]) {
  describe(`behind ${front.name}`, { skip: skipUnlessInstalled(front.program !== undefined, front.name) }, () => {
    const dir = tempDir('websocksy-front-');
    let echo: Peer;
    let farewell: Peer;
    let upstream: Upstream;
    let server: RunningWebsocksy;
    let proxy: ChildProcess | undefined;
    let port = 0;

    before(async () => {
      const program = requireProgram(front.program, front.name);
      echo = await tcpEcho();
      farewell = await streamServer((socket) => socket.end('last words'));
      upstream = await startUpstream();
      const config = join(dir.path, 'websocksy.cfg');
      writeFileSync(
        config,
        [
          '[core]', 'listen = 127.0.0.1', 'port = 0', 'trusted-proxies = 127.0.0.1',
          '[backend]', `host = ${echo.address}`, 'framing = binary',
          '[route /ws/bye]', `peer = ${farewell.address}`,
          '[route /ws/api]', `to = http://127.0.0.1:${upstream.port}/v1`, '',
        ].join('\n'),
      );
      server = await startWebsocksy([config]);
      port = await freePort();
      proxy = front.start(program, dir.path, port, server.port);
      await accepting(port);
    });

    after(async () => {
      await stopProgram(proxy);
      await server?.stop();
      await echo?.close();
      await farewell?.close();
      await upstream?.close();
      dir.remove();
    });

    test('messages cross both ways byte for byte, and websocksy sees the client, not the front', async () => {
      const client = await connectFrom(`ws://127.0.0.1:${port}/ws/echo`);
      client.ws.send('through the front');
      assert.equal((await client.next()).data.toString(), 'through the front');
      await echoesWhole(client, randomBytes(512 * 1024));
      await closeClient(client);
      await server.waitForLog(new RegExp(`open id=\\d+ client=${CLIENT.replaceAll('.', '\\.')} .*endpoint=/ws/echo`));
    });

    test("a peer's last words before it closes arrive, then the close", async () => {
      const client = await connectFrom(`ws://127.0.0.1:${port}/ws/bye`);
      assert.equal((await client.next()).data.toString(), 'last words');
      assert.equal((await client.closed()).code, 1000);
    });

    test('an HTTP route answers through the front, an HTTP/1.0 client too', async () => {
      for (const version of ['--http1.1', '--http1.0']) {
        const { text } = await curl([version, '--interface', CLIENT, `http://127.0.0.1:${port}/ws/api/things?q=1`]);
        const seen = JSON.parse(text) as EchoBody;
        assert.equal(seen.url, '/v1/things?q=1', version);
        assert.match(String(seen.headers['x-forwarded-for']), new RegExp(`^${CLIENT.replaceAll('.', '\\.')}, 127\\.0\\.0\\.1$`), version);
      }
    });
  });
}

describe('an idle connection behind Apache httpd', { skip: skipUnlessInstalled(APACHE !== undefined, 'Apache httpd') }, () => {
  // Apache closes a tunnel quiet for its Timeout (60 s unless set), without a close frame.
  test("outlives Apache's Timeout of 2 s with websocksy pinging every second", async () => {
    const program = requireProgram(APACHE, 'Apache httpd');
    const dir = tempDir('websocksy-front-idle-');
    const echo = await tcpEcho();
    const server = await startWebsocksy(['-l', '127.0.0.1', '-p', '0', '-k', '1', '-c', `host=${echo.address}`]);
    const port = await freePort();
    const apache = APACHE_FRONT.start(program, dir.path, port, server.port, 'Timeout 2');
    try {
      await accepting(port);
      const client = await connectFrom(`ws://127.0.0.1:${port}/ws/idle`);
      await new Promise((resolve) => setTimeout(resolve, 5000));
      client.ws.send('still here');
      assert.equal((await client.next()).data.toString(), 'still here', "the connection outlived two of Apache's timeouts");
      await closeClient(client);
    } finally {
      await stopProgram(apache);
      await server.stop();
      await echo.close();
      dir.remove();
    }
  });
});
