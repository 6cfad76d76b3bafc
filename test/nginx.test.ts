/*
 * websocksy behind a real nginx (Debian's), configured with the location block from README.md;
 * then with nginx's timeouts under two of websocksy's ping intervals, which an idle connection
 * must outlive.
 */
import assert from 'node:assert/strict';
import { spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { after, before, describe, test } from 'node:test';
import { closeClient, connect, echoesWhole } from './helpers/client.js';
import { freePort } from './helpers/instances.js';
import { startNginx } from './helpers/nginx.js';
import { rawRequest } from './helpers/http.js';
import { tcpEcho, tempDir, type Peer } from './helpers/peers.js';
import { startWebsocksy, type RunningWebsocksy } from './helpers/websocksy.js';

const NGINX = ['/usr/sbin/nginx', '/usr/bin/nginx'].find((path) => spawnSync(path, ['-v']).status === 0);

/** The location block README.md documents, with the upstream filled in (and, to test it, a shorter timeout). */
function locationBlock(upstreamPort: number, timeout = '3600s'): string {
  return `
    location /ws/ {
        proxy_pass http://127.0.0.1:${upstreamPort};
        proxy_http_version 1.1;
        proxy_set_header Upgrade $http_upgrade;
        proxy_set_header Connection "upgrade";
        proxy_set_header Host $host;
        proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
        proxy_set_header X-Forwarded-Proto $scheme;
        proxy_read_timeout ${timeout};
        proxy_send_timeout ${timeout};
    }`;
}

describe('behind nginx', { skip: NGINX === undefined && process.env['CI'] !== 'true' ? 'nginx is not installed' : false }, () => {
  const dir = tempDir('websocksy-nginx-');
  let echo: Peer;
  let server: RunningWebsocksy;
  let nginx: ChildProcess;
  let nginxPort: number;

  before(async () => {
    assert.ok(NGINX !== undefined, 'nginx is required in CI (apt-get install nginx-light)');
    echo = await tcpEcho();
    server = await startWebsocksy(['-l', '127.0.0.1', '-p', '0', '-c', `host=${echo.address}`, '-c', 'framing=binary']);
    nginxPort = await freePort();
    nginx = startNginx(NGINX, dir.path, `
    server {
        listen 127.0.0.1:${nginxPort};
        ${locationBlock(server.port)}
    }`);
    await answering(nginxPort);
  });

  after(async () => {
    if (nginx !== undefined && nginx.exitCode === null) {
      nginx.kill('SIGTERM');
      await once(nginx, 'exit');
    }
    await server?.stop();
    await echo?.close();
    dir.remove();
  });

  test('a plain GET through nginx gets websocksy\'s 426', async () => {
    const answer = await rawRequest(nginxPort, 'GET /ws/ HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
    assert.equal(answer.status, 426);
  });

  test('messages cross nginx both ways, byte-exact', async () => {
    const client = await connect(`ws://127.0.0.1:${nginxPort}/ws/echo`);
    client.ws.send('through nginx');
    assert.equal((await client.next()).data.toString(), 'through nginx');
    await echoesWhole(client, randomBytes(512 * 1024));
    await closeClient(client);
    const line = await server.waitForLog(/open id=\d+ .*endpoint=\/ws\/echo.*/);
    assert.match(line, /client=127\.0\.0\.1 forwarded_for=127\.0\.0\.1 /);
  });
});

/** nginx ready: it answers HTTP (bounded: 50 tries, 100 ms apart). */
async function answering(port: number): Promise<void> {
  for (let attempt = 0; attempt < 50; attempt++) {
    const ok = await rawRequest(port, 'GET /ws/ HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n', 1000).then(
      () => true,
      () => false,
    );
    if (ok) return;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  assert.fail('nginx did not start');
}

describe('an idle connection behind nginx', { skip: NGINX === undefined && process.env['CI'] !== 'true' ? 'nginx is not installed' : false }, () => {
  // nginx cuts a WebSocket that stays quiet for proxy_read_timeout (60 s unless set); websocksy's
  // pings must keep bytes crossing it within one ping interval. They once came every other
  // interval on an idle connection (a pong counted as hearing from the client, so the next
  // sweep skipped it): with the default ping of 30 s, a quiet connection behind a default nginx
  // was cut at about 60 s now and then.
  test('outlives a proxy_read_timeout of 1.8 s with websocksy pinging every second', async () => {
    assert.ok(NGINX !== undefined, 'nginx is required in CI (apt-get install nginx-light)');
    const dir = tempDir('websocksy-nginx-idle-');
    const echo = await tcpEcho();
    const server = await startWebsocksy(['-l', '127.0.0.1', '-p', '0', '-k', '1', '-c', `host=${echo.address}`]);
    const port = await freePort();
    const nginx = startNginx(NGINX, dir.path, `
    server {
        listen 127.0.0.1:${port};
        ${locationBlock(server.port, '1800ms')}
    }`);
    try {
      await answering(port);
      const client = await connect(`ws://127.0.0.1:${port}/ws/idle`);
      let pings = 0;
      client.ws.on('ping', () => pings++);
      await new Promise((resolve) => setTimeout(resolve, 5000));
      client.ws.send('still here');
      assert.equal((await client.next()).data.toString(), 'still here', 'the connection outlived two of nginx\'s timeouts');
      assert.ok(pings >= 3, `a ping each interval while idle: ${pings} in 5 s`);
      await closeClient(client);
    } finally {
      nginx.kill('SIGTERM');
      await once(nginx, 'exit');
      await server.stop();
      await echo.close();
      dir.remove();
    }
  });
});
