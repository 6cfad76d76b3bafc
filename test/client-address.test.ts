/*
 * The real client address with real proxies in front (docs/client-address.md):
 *   - HAProxy (Debian's, `mode tcp`, `send-proxy-v2`) in front of websocksy with
 *     `proxy-protocol = v2`: the peer (through websocksy's own PROXY header), the HTTP upstream,
 *     the log and the status see the client, which binds 127.0.0.2 while HAProxy is 127.0.0.1;
 *   - nginx (Debian's) in front passing X-Forwarded-For: the real address reaches the file
 *     backend's %client%, the peer, a route's upstream and the log; and nginx, listening with
 *     `proxy_protocol`, reads the PROXY v1 and v2 headers websocksy sends a `to` route;
 *   - what is not believed: a PROXY header or X-Forwarded-For from an untrusted client, a
 *     trusted proxy's malformed X-Forwarded-For, a trusted proxy without its PROXY header.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { connect as tcpConnect } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { closeClient, connectWith, type TestClient } from './helpers/client.js';
import { upgradeRequest } from './helpers/http.js';
import { accepting, stopProgram } from './helpers/programs.js';
import { freePort, startInstance } from './helpers/instances.js';
import { startNginx } from './helpers/nginx.js';
import { tempDir } from './helpers/peers.js';
import { proxyEcho, proxyHttpUpstream, type ProxyPeer } from './helpers/proxy-peer.js';
import { findProgram, requireProgram, skipUnlessInstalled } from './helpers/tools.js';
import { runWebsocksy, type RunningWebsocksy } from './helpers/websocksy.js';

const HAPROXY = findProgram(['/usr/sbin/haproxy', '/usr/bin/haproxy']);
const NGINX = findProgram(['/usr/sbin/nginx', '/usr/bin/nginx']);
const CLIENT = '127.0.0.2';

/** A WebSocket client that connects from `localAddress`. */
function connectFrom(url: string, localAddress = CLIENT): Promise<TestClient> {
  return connectWith(url, undefined, { perMessageDeflate: false, localAddress });
}

/** An HTTP GET from `localAddress`: status and body. */
function getFrom(port: number, path: string, headers: Record<string, string> = {}, localAddress = CLIENT): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const request = httpRequest({ host: '127.0.0.1', port, path, headers, localAddress, agent: false }, (response) => {
      let body = '';
      response.setEncoding('utf8');
      response.on('data', (chunk: string) => (body += chunk));
      response.on('end', () => resolve({ status: response.statusCode ?? 0, body }));
      response.on('error', reject);
    });
    request.setTimeout(5000, () => request.destroy(new Error(`GET ${path}: no answer in time`)));
    request.on('error', reject);
    request.end();
  });
}

/** Writes `prefix` and `request` on one connection from `localAddress`; resolves with what came back until the 101's end or the close. */
function rawFrom(port: number, prefix: Buffer, request: string, localAddress = CLIENT): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = tcpConnect({ host: '127.0.0.1', port, localAddress });
    let answer = '';
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`no answer in time: ${JSON.stringify(answer)}`));
    }, 5000);
    const done = (): void => {
      clearTimeout(timer);
      socket.destroy();
      resolve(answer);
    };
    socket.on('data', (chunk: Buffer) => {
      answer += chunk.toString('latin1');
      if (answer.startsWith('HTTP/1.1 101') && answer.includes('\r\n\r\n')) done();
    });
    socket.on('end', done);
    socket.on('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
    socket.write(Buffer.concat([prefix, Buffer.from(request, 'latin1')]));
  });
}

/** A PROXY v2 header written out by hand: TCP4 `source`:1234 → 127.0.0.1:80. */
function forgedV2(source: string): Buffer {
  const header = Buffer.from('0d0a0d0a000d0a515549540a2111000c', 'hex');
  const body = Buffer.alloc(12);
  source.split('.').forEach((byte, i) => (body[i] = Number(byte)));
  body.set([127, 0, 0, 1], 4);
  body.writeUInt16BE(1234, 8);
  body.writeUInt16BE(80, 10);
  return Buffer.concat([header, body]);
}

describe('behind HAProxy sending PROXY v2', { skip: skipUnlessInstalled(HAPROXY !== undefined, 'haproxy') }, () => {
  const dir = tempDir('websocksy-haproxy-');
  let peer: ProxyPeer;
  let upstream: ProxyPeer;
  let server: RunningWebsocksy;
  let haproxy: ChildProcess;
  let haproxyPort: number;

  before(async () => {
    const program = requireProgram(HAPROXY, 'haproxy');
    peer = await proxyEcho();
    upstream = await proxyHttpUpstream();
    writeFileSync(`${dir.path}/status-token`, 'status-secret\n');
    server = await startInstance(dir.path, 'behind-haproxy', [
      '[core]', 'listen = 127.0.0.1', 'port = 0', 'trusted-proxies = 127.0.0.1', 'proxy-protocol = v2', 'verbose = yes',
      '[backend]', `host = ${peer.address}`, 'framing = binary', 'proxy-protocol = v2',
      '[status]', 'path = /.status', 'token-file = status-token',
      '[route /api]', `to = http://127.0.0.1:${upstream.port}/`, 'proxy-protocol = v2',
      '',
    ].join('\n'));
    haproxyPort = await freePort();
    writeFileSync(`${dir.path}/haproxy.cfg`, [
      'global', '  log stderr format raw local0 warning',
      'defaults', '  mode tcp', '  timeout connect 5s', '  timeout client 30s', '  timeout server 30s',
      'frontend in', `  bind 127.0.0.1:${haproxyPort}`, `  bind [::1]:${haproxyPort}`, '  default_backend websocksy',
      'backend websocksy', `  server one 127.0.0.1:${server.port} send-proxy-v2`,
      '',
    ].join('\n'));
    haproxy = spawn(program, ['-f', `${dir.path}/haproxy.cfg`, '-db'], { stdio: ['ignore', 'inherit', 'inherit'] });
    await accepting(haproxyPort);
  });

  after(async () => {
    await stopProgram(haproxy);
    await server?.stop();
    await peer?.close();
    await upstream?.close();
    dir.remove();
  });

  test('the peer, the log and the status see the client behind HAProxy', async () => {
    const client = await connectFrom(`ws://127.0.0.1:${haproxyPort}/echo`);
    client.ws.send(Buffer.from('through haproxy'));
    assert.equal((await client.next()).data.toString(), 'through haproxy');
    const header = await peer.header(0);
    assert.deepEqual([header.version, header.command, header.family, header.source, header.destination], [2, 'PROXY', 'TCP4', CLIENT, '127.0.0.1']);
    assert.ok(header.destinationPort > 0, 'websocksy names its own end of the peer connection');
    const line = await server.waitForLog(/open id=\d+ client=\S+ .*endpoint=\/echo.*/);
    assert.match(line, /client=127\.0\.0\.2 via=127\.0\.0\.1 /);
    const status = await getFrom(haproxyPort, '/.status', { Authorization: 'Bearer status-secret' });
    assert.equal(status.status, 200);
    const connection = (JSON.parse(status.body) as { connections: Array<{ client: string; via?: string }> }).connections[0];
    assert.deepEqual([connection?.client, connection?.via], [CLIENT, '127.0.0.1']);
    await closeClient(client);
    assert.match(await server.waitForLog(/close id=\d+ client=\S+ .*endpoint=\/echo.*/), /client=127\.0\.0\.2 via=127\.0\.0\.1 /);
  });

  test('an IPv6 client behind an IPv4 proxy: the log says ::1, the peer\'s header is TCP6 with websocksy\'s end mapped', async () => {
    const before = peer.headers.length;
    const client = await connectFrom(`ws://[::1]:${haproxyPort}/six`, '::1');
    client.ws.send(Buffer.from('v6'));
    assert.equal((await client.next()).data.toString(), 'v6');
    const header = await peer.header(before);
    assert.deepEqual([header.version, header.family, header.source, header.destination], [2, 'TCP6', '::1', '::ffff:7f00:1']);
    assert.match(await server.waitForLog(/open id=\d+ client=\S+ .*endpoint=\/six.*/), /client=::1 via=127\.0\.0\.1 /);
    await closeClient(client);
  });

  test('a route\'s HTTP upstream gets the client in its own PROXY header and in X-Forwarded-For', async () => {
    const answer = await getFrom(haproxyPort, '/api/who');
    assert.equal(answer.status, 200);
    // HAProxy in tcp mode is no HTTP hop: the client is the hop websocksy appends.
    assert.deepEqual(JSON.parse(answer.body), { proxy: CLIENT, forwardedFor: CLIENT, forwarded: `for=${CLIENT};proto=http;host="127.0.0.1:${haproxyPort}"` });
  });

  test('a trusted proxy that comes without its PROXY header is refused with 400', async () => {
    const answer = await rawFrom(server.port, Buffer.alloc(0), upgradeRequest('/echo'), '127.0.0.1');
    assert.match(answer, /^HTTP\/1\.1 400 /);
    assert.match(await server.waitForLog(/refused id=\d+ client=127\.0\.0\.1 .*no PROXY v2 header.*/), /trusted proxy 127\.0\.0\.1 sent no PROXY v2 header/);
  });

  test('an untrusted client\'s own PROXY v2 header and X-Forwarded-For are not believed', async () => {
    const before = peer.headers.length;
    const answer = await rawFrom(server.port, forgedV2('10.1.2.3'), upgradeRequest('/forged', ['X-Forwarded-For: 10.9.9.9']));
    assert.match(answer, /^HTTP\/1\.1 101 /);
    const header = await peer.header(before);
    assert.equal(header.source, CLIENT);
    assert.match(await server.waitForLog(/proxy header ignored .*claimed=10\.1\.2\.3.*/), /client=127\.0\.0\.2 claimed=10\.1\.2\.3 why="not from a trusted proxy"/);
    assert.match(await server.waitForLog(/open id=\d+ client=\S+ .*endpoint=\/forged.*/), /client=127\.0\.0\.2 forwarded_for=10\.9\.9\.9 /);
  });
});

describe('behind nginx passing X-Forwarded-For, and nginx reading websocksy\'s PROXY headers', { skip: skipUnlessInstalled(NGINX !== undefined, 'nginx') }, () => {
  const dir = tempDir('websocksy-nginx-xff-');
  let peer: ProxyPeer;
  let upstream: ProxyPeer;
  let server: RunningWebsocksy;
  let nginx: ChildProcess;
  let frontPort: number;

  before(async () => {
    const program = requireProgram(NGINX, 'nginx');
    peer = await proxyEcho();
    upstream = await proxyHttpUpstream();
    frontPort = await freePort();
    const readerPort = await freePort();
    mkdirSync(`${dir.path}/peers`);
    // The file backend finds the peer by the client's address: only the real one has a file.
    writeFileSync(`${dir.path}/peers/${CLIENT}.txt`, `${peer.address}?proxy-v1 *\n`);
    server = await startInstance(dir.path, 'behind-nginx', [
      // %client% is a request value: the answers it leads to need an allow-list (docs/allow-lists.md).
      '[core]', 'listen = 127.0.0.1', 'port = 0', 'trusted-proxies = 127.0.0.1', 'backend = file', `allow-peers = tcp:127.0.0.1:${peer.port}`, 'verbose = yes',
      '[backend]', `path = ${dir.path}/peers`, 'expression = %client%.txt',
      '[route /api]', `to = http://127.0.0.1:${upstream.port}/`, 'proxy-protocol = v2',
      '[route /relay]', `websocket = ws://127.0.0.1:${upstream.port}/`, 'proxy-protocol = v2',
      '[route /denied]', `to = http://localhost:${upstream.port}/`, 'allow = tcp:10.0.0.0/8:1-65535', 'proxy-protocol = v2',
      '[route /denied-ws]', `websocket = ws://localhost:${upstream.port}/`, 'allow = tcp:10.0.0.0/8:1-65535', 'proxy-protocol = v2',
      '[route /nginx-v2]', `to = http://127.0.0.1:${readerPort}/`, 'proxy-protocol = v2',
      '[route /nginx-v1]', `to = http://127.0.0.1:${readerPort}/`, 'proxy-protocol = v1',
      '',
    ].join('\n'));
    nginx = startNginx(program, dir.path, `
    server {
        listen 127.0.0.1:${frontPort};
        location / {
            proxy_pass http://127.0.0.1:${server.port};
            proxy_http_version 1.1;
            proxy_set_header Upgrade $http_upgrade;
            proxy_set_header Connection $http_connection;
            proxy_set_header Host $host;
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
        }
    }
    server {
        listen 127.0.0.1:${readerPort} proxy_protocol;
        location / {
            default_type text/plain;
            return 200 "$proxy_protocol_addr $remote_addr";
        }
    }`);
    await accepting(frontPort);
    await accepting(readerPort);
  });

  after(async () => {
    await stopProgram(nginx);
    await server?.stop();
    await peer?.close();
    await upstream?.close();
    dir.remove();
  });

  test('the file backend\'s %client%, the peer and the log see the client behind nginx', async () => {
    const client = await connectFrom(`ws://127.0.0.1:${frontPort}/echo`);
    client.ws.send(Buffer.from('through nginx'));
    assert.equal((await client.next()).data.toString(), 'through nginx');
    const header = await peer.header(0);
    assert.deepEqual([header.version, header.family, header.source, header.destination], [1, 'TCP4', CLIENT, '127.0.0.1']);
    assert.match(await server.waitForLog(/open id=\d+ client=\S+ .*endpoint=\/echo.*/), /client=127\.0\.0\.2 via=127\.0\.0\.1 forwarded_for=127\.0\.0\.2 /);
    await closeClient(client);
  });

  test('a route\'s upstream gets the client in the PROXY header and nginx\'s hop appended to X-Forwarded-For', async () => {
    const answer = await getFrom(frontPort, '/api/who');
    assert.equal(answer.status, 200);
    const seen = JSON.parse(answer.body) as { proxy: string; forwardedFor: string };
    assert.deepEqual([seen.proxy, seen.forwardedFor], [CLIENT, `${CLIENT}, 127.0.0.1`]);
  });

  test('a websocket route\'s upstream gets the client in the PROXY header that leads its connection', async () => {
    const client = await connectFrom(`ws://127.0.0.1:${frontPort}/relay/x`);
    const seen = JSON.parse((await client.next()).data.toString()) as { proxy: string; forwardedFor: string };
    assert.deepEqual([seen.proxy, seen.forwardedFor], [CLIENT, `${CLIENT}, 127.0.0.1`]);
    await closeClient(client);
  });

  test('nginx listening with proxy_protocol reads the v2 and the v1 header websocksy sends', async () => {
    for (const path of ['/nginx-v2/', '/nginx-v1/']) {
      const answer = await getFrom(frontPort, path);
      assert.equal(answer.status, 200, path);
      assert.equal(answer.body, `${CLIENT} 127.0.0.1`, path);
    }
  });

  test('a route\'s allow still holds its upstream when a PROXY header leads the connection', async () => {
    const before = upstream.headers.length;
    assert.equal((await getFrom(server.port, '/denied/x')).status, 403);
    await assert.rejects(connectFrom(`ws://127.0.0.1:${server.port}/denied-ws/x`), /HTTP 403/);
    assert.equal(upstream.headers.length, before, 'nothing reached the upstream');
  });

  test('an untrusted client\'s X-Forwarded-For is not believed', async () => {
    const answer = await getFrom(server.port, '/api/who', { 'X-Forwarded-For': '10.9.9.9' });
    const seen = JSON.parse(answer.body) as { proxy: string; forwardedFor: string };
    assert.deepEqual([seen.proxy, seen.forwardedFor], [CLIENT, `10.9.9.9, ${CLIENT}`]);
  });

  test('a trusted proxy\'s malformed X-Forwarded-For is ignored with a debug line, and nothing breaks', async () => {
    for (const value of ['192.0.2.7, bogus', '192.0.2.7,', '[::1', 'x'.repeat(2000)]) {
      const answer = await getFrom(server.port, '/api/who', { 'X-Forwarded-For': value }, '127.0.0.1');
      assert.equal(answer.status, 200, value);
      assert.equal((JSON.parse(answer.body) as { proxy: string }).proxy, '127.0.0.1', value);
    }
    assert.match(await server.waitForLog(/forwarded header ignored .*bogus.*/), /via=127\.0\.0\.1 header=x-forwarded-for why="\\"bogus\\" is not an address" client=127\.0\.0\.1/);
    // A well-formed one from the same proxy still counts.
    const good = await getFrom(server.port, '/api/who', { 'X-Forwarded-For': '192.0.2.7' }, '127.0.0.1');
    assert.equal((JSON.parse(good.body) as { proxy: string }).proxy, '192.0.2.7');
  });
});

describe('client-address settings that cannot work are refused at start', () => {
  const dir = tempDir('websocksy-client-address-config-');
  after(() => dir.remove());

  const refused = async (name: string, text: string, message: RegExp): Promise<void> => {
    writeFileSync(`${dir.path}/${name}.cfg`, text);
    const { code, stderr } = await runWebsocksy([`${dir.path}/${name}.cfg`]);
    assert.equal(code, 1, stderr);
    assert.match(stderr, message);
  };

  test('inbound PROXY v1, and an unknown header name', async () => {
    await refused('v1', '[core]\nport = 0\nproxy-protocol = v1\n', /v1\.cfg:3 \[core\]: proxy-protocol: PROXY protocol v1 cannot be read here .*send-proxy-v2/);
    await refused('header', '[core]\nport = 0\nclient-address-header = x-real-ip\n', /header\.cfg:3 \[core\]: client-address-header: "x-real-ip" is not x-forwarded-for, forwarded or none/);
  });

  test('a PROXY header to a datagram peer, through a tunnel, or on a route that makes no connection', async () => {
    await refused('udp-backend', '[core]\nport = 0\n[backend]\nhost = udp://127.0.0.1:9\nproxy-protocol = v2\n', /datagram peer/);
    await refused('udp-route', '[core]\nport = 0\n[route /u]\npeer = udp://127.0.0.1:9\nproxy-protocol = v2\n', /udp-route\.cfg:5 \[route \/u\]: proxy-protocol: only to tcp and unix stream peers/);
    await refused('via-route', '[core]\nport = 0\n[route /v]\nto = http://127.0.0.1:9/\nvia = someone\nproxy-protocol = v2\n', /proxy-protocol: not through a tunnel/);
    await refused('wss-route', '[core]\nport = 0\n[route /w]\nwebsocket = wss://127.0.0.1:9/\nproxy-protocol = v2\n', /wss-route\.cfg:5 \[route \/w\]: proxy-protocol: only to ws:\/\/ upstreams, not wss:\/\//);
    await refused('https-route', '[core]\nport = 0\n[route /h]\nto = https://127.0.0.1:9/\nproxy-protocol = v2\n', /proxy-protocol: only to http:\/\/ upstreams, not https:\/\//);
    await refused('static-route', '[core]\nport = 0\n[route /s]\nstatic = .\nproxy-protocol = v2\n', /proxy-protocol: only a route with "to", "websocket" or "peer" sets it/);
  });
});
