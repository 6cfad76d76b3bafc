/*
 * docs/tls.md's "nginx in front" guide as written: its server block in a real nginx (Debian's),
 * with a certificate from a CA this test makes, in front of websocksy on loopback with the
 * guide's [core] lines; through it a wss:// client of the bridge, `websocksy forward` over
 * wss://…/.tunnel trusting the CA through NODE_EXTRA_CA_CERTS, and an https:// request to a route.
 */
import assert from 'node:assert/strict';
import { spawnSync, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync, writeFileSync } from 'node:fs';
import { request } from 'node:https';
import { connect as tcpConnect } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { makeCertificates, OPENSSL, type TestCertificates } from './helpers/certificates.js';
import { closeClient, connectWith } from './helpers/client.js';
import { documented } from './helpers/docs.js';
import { startUpstream, type EchoBody, type Upstream } from './helpers/http-upstream.js';
import { freePort } from './helpers/instances.js';
import { startNginx } from './helpers/nginx.js';
import { tcpEcho, tempDir, type Peer } from './helpers/peers.js';
import { requireProgram, skipUnlessInstalled } from './helpers/tools.js';
import { startForward } from './helpers/tunnel.js';
import { startWebsocksy, type RunningWebsocksy } from './helpers/websocksy.js';

const NGINX = ['/usr/sbin/nginx', '/usr/bin/nginx'].find((path) => spawnSync(path, ['-v']).status === 0);
const TOKEN = 'nginx-tls-tunnel-token';
const GUIDE = '## nginx in front: TLS at nginx, websocksy on loopback';

/** GET `path` over https from nginx, trusting only the test CA; resolves with status and body. */
function httpsGet(port: number, path: string, ca: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, servername: 'localhost', ca: readFileSync(ca), timeout: 5000 }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (body += chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('timeout', () => req.destroy(new Error(`no answer from nginx on ${path}`)));
    req.on('error', reject);
    req.end();
  });
}

describe('nginx in front, ending TLS (docs/tls.md)', { skip: skipUnlessInstalled(NGINX !== undefined && OPENSSL !== undefined, 'nginx-light or openssl') }, () => {
  const dir = tempDir('websocksy-nginx-tls-');
  let certificates: TestCertificates;
  let echo: Peer;
  let upstream: Upstream;
  let server: RunningWebsocksy;
  let nginx: ChildProcess;
  let nginxPort: number;

  before(async () => {
    certificates = makeCertificates(dir.path);
    echo = await tcpEcho();
    upstream = await startUpstream();
    const echoPort = Number(/:(\d+)$/.exec(echo.address)?.[1]);
    // The guide's [core] lines, on a port of the OS's choosing, with a backend, a tunnel and a route.
    const core = documented('websocksy\'s side: listen on loopback only and believe nginx about the client:', 'ini', 'docs/tls.md').replace('port = 8001', 'port = 0');
    writeFileSync(`${dir.path}/identities`, `alice ${TOKEN} connect=127.0.0.1:${echoPort}\n`);
    writeFileSync(
      `${dir.path}/websocksy.cfg`,
      `${core}\n[backend]\nhost = ${echo.address}\n[tunnel]\nidentities = identities\n[route /api]\nto = http://127.0.0.1:${upstream.port}/api\n`,
    );
    server = await startWebsocksy([`${dir.path}/websocksy.cfg`]);
    nginxPort = await freePort();
    const block = documented(GUIDE, 'nginx', 'docs/tls.md')
      .replace('listen 443 ssl;', `listen 127.0.0.1:${nginxPort} ssl;`)
      .replace('/etc/letsencrypt/live/ws.example.com/fullchain.pem', certificates.server.cert)
      .replace('/etc/letsencrypt/live/ws.example.com/privkey.pem', certificates.server.key)
      .replace('http://127.0.0.1:8001', `http://127.0.0.1:${server.port}`);
    nginx = startNginx(requireProgram(NGINX, 'nginx'), `${dir.path}/nginx`, block);
    for (let attempt = 0; attempt < 50; attempt++) {
      if (await httpsGet(nginxPort, '/api/ready', certificates.ca).then(() => true, () => false)) return;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    assert.fail(`nginx did not start: ${readFileSync(`${dir.path}/nginx/logs/error.log`, 'utf8')}`);
  });

  after(async () => {
    if (nginx !== undefined && nginx.exitCode === null) {
      nginx.kill('SIGTERM');
      await once(nginx, 'exit');
    }
    await server?.stop();
    await upstream?.close();
    await echo?.close();
    dir.remove();
  });

  test('a wss:// client reaches the bridge, and websocksy logs the client nginx names', async () => {
    const client = await connectWith(`wss://127.0.0.1:${nginxPort}/bridge`, undefined, { ca: readFileSync(certificates.ca), perMessageDeflate: false });
    client.ws.send('through nginx over TLS\n');
    assert.equal((await client.next()).data.toString(), 'through nginx over TLS\n');
    await closeClient(client);
    assert.match(await server.waitForLog(/open id=\d+ .*endpoint=\/bridge.*/), /client=127\.0\.0\.1 forwarded_for=127\.0\.0\.1 /);
  });

  test('websocksy forward dials wss://…/.tunnel through nginx, trusting the private CA through NODE_EXTRA_CA_CERTS', async () => {
    const forward = await startForward(['-L', `0:127.0.0.1:${Number(/:(\d+)$/.exec(echo.address)?.[1])}`, `wss://alice@localhost:${nginxPort}/.tunnel`, '--token', TOKEN], 0, {
      NODE_EXTRA_CA_CERTS: certificates.ca,
    });
    try {
      const socket = tcpConnect(forward.ports[0] as number, '127.0.0.1');
      await once(socket, 'connect');
      socket.write('through the tunnel\n');
      const [data] = (await once(socket, 'data')) as [Buffer];
      assert.equal(data.toString(), 'through the tunnel\n');
      socket.destroy();
    } finally {
      await forward.stop();
    }
  });

  test('an https:// request reaches the route; its upstream sees X-Forwarded-Proto: https and the client', async () => {
    const answer = await httpsGet(nginxPort, '/api/hello', certificates.ca);
    assert.equal(answer.status, 200, answer.body);
    const echoed = JSON.parse(answer.body) as EchoBody;
    assert.equal(echoed.url, '/api/hello');
    assert.equal(echoed.headers['x-forwarded-proto'], 'https');
    assert.match(String(echoed.headers['x-forwarded-for']), /127\.0\.0\.1/);
  });
});
