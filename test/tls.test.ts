/*
 * TLS end to end, with certificates made by openssl: the listener (wss bridge, SNI names that
 * each serve every endpoint, TLS 1.0/1.1 and weak ciphers refused), certificates swapped on
 * SIGHUP under live connections and a churn of new ones, broken new certificates refused, the
 * config errors, client certificates (refused as a setting, with the engine fact that makes
 * them useless), and wss:// / https:// upstreams verified by CA file or pinned fingerprint.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { once } from 'node:events';
import { copyFileSync, readFileSync, writeFileSync } from 'node:fs';
import { Agent as HttpsAgent, createServer as createHttpsServer, request as httpsRequest, type Server as HttpsServer } from 'node:https';
import { request as httpRequest } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { TLSSocket } from 'node:tls';
import { after, before, describe, test } from 'node:test';
import WebSocket, { WebSocketServer } from 'ws';
import type { us_listen_socket } from 'uWebSockets.js';
import { engine } from '../src/front/engine.js';
import { closeClient, connectWith, wrap, type TestClient } from './helpers/client.js';
import { fingerprintOf, makeCertificates, OPENSSL, type Pair, type TestCertificates } from './helpers/certificates.js';
import { tcpEcho, tempDir, type Peer } from './helpers/peers.js';
import { freePort } from './helpers/instances.js';
import { skipUnlessInstalled } from './helpers/tools.js';
import { runWebsocksy, startWebsocksy, type RunningWebsocksy } from './helpers/websocksy.js';

const skip = skipUnlessInstalled(OPENSSL !== undefined, 'openssl (Debian package openssl)');

interface TlsClientOptions {
  readonly ca: string;
  /** SNI name and the name the certificate is checked against (default localhost). */
  readonly servername?: string;
  readonly protocols?: string | string[];
}

/** A `ws` client over TLS to 127.0.0.1:port; rejects with the HTTP status or the TLS error. */
function wssConnect(port: number, path: string, options: TlsClientOptions): Promise<TestClient> {
  const servername = options.servername ?? 'localhost';
  // `ws` hands servername to tls.connect, which checks the certificate against it; its typing omits it.
  const tlsOptions = { ca: readFileSync(options.ca), servername, headers: { host: servername }, perMessageDeflate: false } as WebSocket.ClientOptions;
  return connectWith(`wss://127.0.0.1:${port}${path}`, options.protocols, tlsOptions);
}

function peerSubject(client: TestClient): string {
  return ((client.ws as unknown as { _socket: TLSSocket })._socket.getPeerCertificate().subject.CN as string | undefined) ?? '';
}

async function echoes(client: TestClient, text: string): Promise<void> {
  client.ws.send(Buffer.from(text));
  assert.equal((await client.next()).data.toString(), text);
}

/** One HTTPS GET on a fresh connection: the status and the server certificate's CN. */
function httpsGet(port: number, path: string, ca: string, servername = 'localhost'): Promise<{ status: number; subject: string; body: string }> {
  return new Promise((resolve, reject) => {
    const request = httpsRequest({ host: '127.0.0.1', port, path, ca: readFileSync(ca), servername, headers: { host: servername }, agent: false }, (response) => {
      const subject = (response.socket as TLSSocket).getPeerCertificate().subject.CN as string;
      let body = '';
      response.on('data', (chunk: Buffer) => (body += chunk.toString()));
      response.on('end', () => resolve({ status: response.statusCode ?? 0, subject, body }));
    });
    request.on('error', reject);
    request.setTimeout(5000, () => request.destroy(new Error('timed out')));
    request.end();
  });
}

function httpGet(port: number, path: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const request = httpRequest({ host: '127.0.0.1', port, path, agent: false }, (response) => {
      let body = '';
      response.on('data', (chunk: Buffer) => (body += chunk.toString()));
      response.on('end', () => resolve({ status: response.statusCode ?? 0, body }));
    });
    request.on('error', reject);
    request.end();
  });
}

/** openssl s_client with the given flags: whether a handshake completed, and what it printed. */
function sClient(port: number, flags: readonly string[], servername = 'localhost'): Promise<{ connected: boolean; output: string }> {
  return new Promise((resolve) => {
    const child = execFile(OPENSSL as string, ['s_client', '-connect', `127.0.0.1:${port}`, '-servername', servername, ...flags], { timeout: 10_000 }, (_error, stdout, stderr) => {
      const output = stdout + stderr;
      resolve({ connected: /^(New|Reused), (TLS|SSL)/m.test(output) && !/Cipher is \(NONE\)/.test(output), output });
    });
    child.stdin?.end();
  });
}

/** An https server for route upstreams: echoes the path, and WebSocket messages over wss. */
async function httpsUpstream(pair: Pair): Promise<{ port: number; server: HttpsServer; close(): Promise<void> }> {
  const server = createHttpsServer({ cert: readFileSync(pair.cert), key: readFileSync(pair.key) }, (req, res) => {
    res.setHeader('content-type', 'text/plain');
    res.end(`upstream got ${req.url ?? ''} proto=${String(req.headers['x-forwarded-proto'])}`);
  });
  const sockets = new WebSocketServer({ server });
  sockets.on('connection', (ws) => ws.on('message', (data, binary) => ws.send(data, { binary })));
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return {
    port: (server.address() as AddressInfo).port,
    server,
    close: async () => {
      for (const client of sockets.clients) client.terminate();
      sockets.close();
      server.closeAllConnections();
      server.close();
      await once(server, 'close');
    },
  };
}

let certs: TestCertificates;
const dir = tempDir('websocksy-tls-');
before(() => {
  if (skip === false) certs = makeCertificates(dir.path);
});
after(() => dir.remove());

describe('TLS listener', { skip }, () => {
  let echo: Peer;
  let upstream: Awaited<ReturnType<typeof httpsUpstream>>;
  let server: RunningWebsocksy;
  before(async () => {
    echo = await tcpEcho();
    upstream = await httpsUpstream(certs.server);
    writeFileSync(
      `${dir.path}/listener.cfg`,
      [
        'listen = 127.0.0.1',
        'port = 0',
        '[backend]',
        `host = ${echo.address}`,
        '[tls]',
        'cert = server.pem',
        'key = server.key',
        '[tls alt.test]',
        'cert = alt.pem',
        'key = alt.key',
        '[status]',
        'path = /.status',
        'clients = loopback',
        '[route /api]',
        `to = https://localhost:${upstream.port}/base`,
        'ca = ca.pem',
        '',
      ].join('\n'),
    );
    server = await startWebsocksy([`${dir.path}/listener.cfg`]);
  });
  after(async () => {
    await server.stop();
    await upstream.close();
    await echo.close();
  });

  test('a wss client trusting the CA echoes through the bridge, and sees the default certificate', async () => {
    const client = await wssConnect(server.port, '/', { ca: certs.ca });
    try {
      assert.equal(peerSubject(client), 'localhost');
      await echoes(client, 'hello over TLS');
    } finally {
      await closeClient(client);
    }
  });

  test('a client that does not trust the CA fails the handshake', async () => {
    await assert.rejects(wssConnect(server.port, '/', { ca: certs.otherCa }), /self-signed|unable to verify|certificate/i);
  });

  test('plain HTTP on the TLS port gets no answer', async () => {
    await assert.rejects(httpGet(server.port, '/.status'));
  });

  test('SNI: each name gets its own certificate, and every endpoint works under each name', async () => {
    for (const [servername, subject] of [['localhost', 'localhost'], ['alt.test', 'alt.test']] as const) {
      const client = await wssConnect(server.port, '/', { ca: certs.ca, servername });
      try {
        assert.equal(peerSubject(client), subject);
        await echoes(client, `bridge under ${servername}`);
      } finally {
        await closeClient(client);
      }
      const status = await httpsGet(server.port, '/.status', certs.ca, servername);
      assert.equal(status.status, 200, `status under ${servername}`);
      assert.equal(status.subject, subject);
      assert.ok('connectionsTotal' in (JSON.parse(status.body) as object));
      const route = await httpsGet(server.port, '/api/x?y=1', certs.ca, servername);
      assert.equal(route.status, 200, `route under ${servername}: ${route.body}`);
      assert.equal(route.body, 'upstream got /base/x?y=1 proto=https');
      const bare = await httpsGet(server.port, '/nothing', certs.ca, servername);
      assert.equal(bare.status, 404, `a port with routes answers what no route claims with 404, under ${servername} too`);
    }
  });

  test('TLS 1.0 and 1.1 are refused with protocol_version; TLS 1.2 takes only ECDHE with AEAD; TLS 1.3 works', async () => {
    for (const servername of ['localhost', 'alt.test']) {
      for (const version of ['-tls1', '-tls1_1']) {
        const old = await sClient(server.port, [version, '-cipher', 'DEFAULT@SECLEVEL=0'], servername);
        assert.equal(old.connected, false, `${version} under ${servername} must be refused:\n${old.output}`);
        assert.match(old.output, /protocol version/i, `${version}: the server says why`);
      }
      for (const cipher of ['ECDHE-ECDSA-AES128-SHA', 'ECDHE-ECDSA-AES256-SHA384', 'AES128-GCM-SHA256']) {
        const weak = await sClient(server.port, ['-tls1_2', '-cipher', cipher], servername);
        assert.equal(weak.connected, false, `TLS 1.2 with ${cipher} under ${servername} must be refused:\n${weak.output}`);
      }
    }
    const good12 = await sClient(server.port, ['-tls1_2', '-cipher', 'ECDHE-ECDSA-AES128-GCM-SHA256']);
    assert.equal(good12.connected, true, good12.output);
    const good13 = await sClient(server.port, ['-tls1_3']);
    assert.equal(good13.connected, true, good13.output);
  });
});

function tcpMigratesRequests(): boolean {
  return readFileSync('/proc/sys/net/ipv4/tcp_migrate_req', 'utf8').trim() === '1';
}

/** A GET of the status (which keeps the connection) on `agent`'s one kept-alive connection: the status, whether the connection was reused, and the certificate it has. */
function keepAliveGet(agent: HttpsAgent, servername: string): Promise<{ status: number; reused: boolean; subject: string }> {
  const { port, ca } = keepAliveTarget;
  return new Promise((resolve, reject) => {
    const request = httpsRequest({ host: '127.0.0.1', port, path: '/.status', ca: readFileSync(ca), servername, headers: { host: servername }, agent }, (response) => {
      const subject = (response.socket as TLSSocket).getPeerCertificate().subject.CN as string;
      response.resume();
      response.on('end', () => resolve({ status: response.statusCode ?? 0, reused: request.reusedSocket, subject }));
    });
    request.on('error', reject);
    request.end();
  });
}

/** Where keepAliveGet goes: set by the reload suite. */
const keepAliveTarget = { port: 0, ca: '' };

/** The one line each SIGHUP ends with (a successful reload also logs a line per SNI name, without how=). */
const RELOAD_OUTCOME = /tls reloaded how=|reload refused/;

describe('certificate reload on SIGHUP', { skip }, () => {
  let echo: Peer;
  let server: RunningWebsocksy;
  const files = (): Record<string, string> => ({ cert: `${dir.path}/live-cert.pem`, key: `${dir.path}/live-key.pem`, altCert: `${dir.path}/live-alt.pem`, altKey: `${dir.path}/live-alt.key` });
  const install = (main: Pair, alt: Pair): void => {
    copyFileSync(main.cert, files()['cert'] as string);
    copyFileSync(main.key, files()['key'] as string);
    copyFileSync(alt.cert, files()['altCert'] as string);
    copyFileSync(alt.key, files()['altKey'] as string);
  };
  before(async () => {
    echo = await tcpEcho();
    install(certs.server, certs.alt);
    const f = files();
    // A fixed port: uSockets sets SO_REUSEPORT, which a new default certificate's listener needs, only on a port it was given.
    writeFileSync(
      `${dir.path}/reload.cfg`,
      `listen = 127.0.0.1\nport = ${await freePort()}\n[backend]\nhost = ${echo.address}\n[tls]\ncert = ${f['cert']}\nkey = ${f['key']}\n[tls alt.test]\ncert = ${f['altCert']}\nkey = ${f['altKey']}\n[status]\npath = /.status\nclients = loopback\n`,
    );
    server = await startWebsocksy([`${dir.path}/reload.cfg`]);
    keepAliveTarget.port = server.port;
    keepAliveTarget.ca = certs.ca;
  });
  after(async () => {
    await server.stop();
    await echo.close();
  });

  /** Fresh HTTPS connections, `parallel` at a time, until stopped: every answer and failure counted. */
  function churn(servername: string, parallel: number): { stop(): Promise<{ ok: number; failures: string[] }> } {
    let running = true;
    let ok = 0;
    const failures: string[] = [];
    const worker = async (): Promise<void> => {
      while (running) {
        try {
          const answer = await httpsGet(server.port, '/', certs.ca, servername);
          if (answer.status === 426) ok++;
          else failures.push(`HTTP ${answer.status}`);
        } catch (error) {
          failures.push((error as NodeJS.ErrnoException).code ?? (error as Error).message);
        }
      }
    };
    const workers = Array.from({ length: parallel }, worker);
    return {
      stop: async () => {
        running = false;
        await Promise.all(workers);
        return { ok, failures };
      },
    };
  }

  async function reload(count: number): Promise<string> {
    server.process.kill('SIGHUP');
    const pattern = new RegExp(`((${RELOAD_OUTCOME.source})[^\\n]*\\n[^]*){${count}}`);
    await server.waitForLog(pattern);
    return server.log();
  }

  test('new certificates serve new connections; live ones keep echoing; a churn of new connections sees no failure', async (t) => {
    const live = await wssConnect(server.port, '/', { ca: certs.ca });
    const liveAlt = await wssConnect(server.port, '/', { ca: certs.ca, servername: 'alt.test' });
    try {
      assert.equal(peerSubject(live), 'localhost');
      assert.equal(peerSubject(liveAlt), 'alt.test');
      const mainChurn = churn('localhost', 4);
      const altChurn = churn('alt.test', 4);
      await new Promise((resolve) => setTimeout(resolve, 300));
      install(certs.renewed, certs.altRenewed);
      const log = await reload(1);
      assert.match(log, /tls reloaded how="new listener" subject="CN=localhost-renewed"/);
      await new Promise((resolve) => setTimeout(resolve, 300));
      const [main, alt] = await Promise.all([mainChurn.stop(), altChurn.stop()]);
      t.diagnostic(`churn during the swap: default name ${main.ok} ok, ${main.failures.length} failed (${main.failures.join(',')}); alt.test ${alt.ok} ok, ${alt.failures.length} failed`);
      assert.ok(main.ok > 5 && alt.ok > 5, 'the churn ran');
      // Closing the old listen socket resets what waits in its accept queue (every name shares it),
      // unless the kernel migrates those connections to the new socket (docs/tls.md).
      const migrates = tcpMigratesRequests();
      for (const failures of [main.failures, alt.failures]) {
        if (migrates) assert.deepEqual(failures, []);
        else assert.ok(failures.every((code) => code === 'ECONNRESET'), `only accept-queue resets: ${failures.join(',')}`);
      }

      await echoes(live, 'still here after the swap');
      await echoes(liveAlt, 'alt still here after the swap');
      const fresh = await wssConnect(server.port, '/', { ca: certs.ca });
      const freshAlt = await wssConnect(server.port, '/', { ca: certs.ca, servername: 'alt.test' });
      try {
        assert.equal(peerSubject(fresh), 'localhost-renewed');
        assert.equal(peerSubject(freshAlt), 'alt.test-renewed');
        await echoes(fresh, 'new connection, new certificate');
        await echoes(freshAlt, 'alt: new connection, new certificate');
      } finally {
        await closeClient(fresh);
        await closeClient(freshAlt);
      }

      // Only an SNI name changes: a new listener too (uWS cannot swap a name in place safely),
      // and keep-alive connections made before it carry on, on the old app, under both names.
      const keepAlive = { main: new HttpsAgent({ keepAlive: true, maxSockets: 1 }), alt: new HttpsAgent({ keepAlive: true, maxSockets: 1 }) };
      try {
        assert.deepEqual(await keepAliveGet(keepAlive.main, 'localhost'), { status: 200, reused: false, subject: 'localhost-renewed' });
        assert.deepEqual(await keepAliveGet(keepAlive.alt, 'alt.test'), { status: 200, reused: false, subject: 'alt.test-renewed' });
        const secondChurn = churn('alt.test', 4);
        await new Promise((resolve) => setTimeout(resolve, 200));
        install(certs.renewed, certs.alt);
        assert.match(await reload(2), /tls reloaded how="new listener" subject="CN=localhost-renewed"/);
        await new Promise((resolve) => setTimeout(resolve, 200));
        const second = await secondChurn.stop();
        t.diagnostic(`churn during the SNI-only swap: ${second.ok} ok, ${second.failures.length} failed`);
        if (migrates) assert.deepEqual(second.failures, []);
        else assert.ok(second.failures.every((code) => code === 'ECONNRESET'), second.failures.join(','));
        for (let round = 0; round < 3; round++) {
          assert.deepEqual(await keepAliveGet(keepAlive.main, 'localhost'), { status: 200, reused: true, subject: 'localhost-renewed' });
          assert.deepEqual(await keepAliveGet(keepAlive.alt, 'alt.test'), { status: 200, reused: true, subject: 'alt.test-renewed' });
        }
      } finally {
        keepAlive.main.destroy();
        keepAlive.alt.destroy();
      }
      assert.equal((await httpsGet(server.port, '/', certs.ca, 'alt.test')).subject, 'alt.test');
      await echoes(liveAlt, 'alt still here after the second swap');
      await echoes(live, 'default still here after the second swap');
      assert.match(await reload(3), /tls reloaded how=unchanged/);
    } finally {
      await closeClient(live);
      await closeClient(liveAlt);
    }
  });

  test('a broken, mismatched or expired new certificate is refused, logged, and the old one kept', async () => {
    const f = files();
    const cases: Array<[string, () => void, RegExp]> = [
      ['garbage', () => writeFileSync(f['cert'] as string, 'not a certificate\n'), /holds no PEM certificate/],
      ['mismatched key', () => copyFileSync(certs.server.cert, f['cert'] as string), /does not belong to the certificate/],
      ['expired', () => { copyFileSync(certs.expired.cert, f['cert'] as string); copyFileSync(certs.expired.key, f['key'] as string); }, /expired on/],
      ['unreadable', () => writeFileSync(f['altKey'] as string, ''), /alt\.key holds no usable private key/],
      ['a curve BoringSSL lacks', () => { copyFileSync(certs.brainpool.cert, f['altCert'] as string); copyFileSync(certs.brainpool.key, f['altKey'] as string); }, /the TLS engine \(BoringSSL\) cannot use the certificate/],
    ];
    install(certs.renewed, certs.alt);
    await reload((server.log().match(new RegExp(RELOAD_OUTCOME.source, 'g')) ?? []).length + 1);
    const live = await wssConnect(server.port, '/', { ca: certs.ca });
    try {
      for (const [what, breakIt, why] of cases) {
        install(certs.renewed, certs.alt);
        breakIt();
        const before = (server.log().match(new RegExp(RELOAD_OUTCOME.source, 'g')) ?? []).length;
        const log = await reload(before + 1);
        const last = log.split('\n').filter((line) => RELOAD_OUTCOME.test(line)).at(-1) ?? '';
        assert.match(last, /error reload refused: the running configuration stays/, what);
        assert.match(last, why, what);
        assert.equal((await httpsGet(server.port, '/', certs.ca)).subject, 'localhost-renewed', `${what}: the old certificate serves`);
        assert.equal((await httpsGet(server.port, '/', certs.ca, 'alt.test')).subject, 'alt.test', `${what}: the old alt certificate serves`);
        await echoes(live, `live through ${what}`);
      }
    } finally {
      await closeClient(live);
    }
  });
});

describe('TLS configuration', { skip }, () => {
  const run = async (config: string): Promise<{ code: number | null; stderr: string }> => {
    writeFileSync(`${dir.path}/bad.cfg`, `listen = 127.0.0.1\nport = 0\n${config}`);
    return runWebsocksy([`${dir.path}/bad.cfg`]);
  };

  test('errors name the file, line and section, and stop the start', async () => {
    const cases: Array<[string, RegExp]> = [
      ['[tls]\ncert = server.pem\n', /bad\.cfg:3 \[tls\]: \[tls\] needs cert = FILE and key = FILE/],
      ['[tls alt.test]\ncert = alt.pem\nkey = alt.key\n', /\[tls SERVER-NAME\] needs a \[tls\] section too/],
      ['[tls]\ncert = server.pem\nkey = renewed.key\n', /does not belong to the certificate/],
      ['[tls]\ncert = expired.pem\nkey = expired.key\n', /expired\.pem expired on/],
      ['[tls]\ncert = missing.pem\nkey = server.key\n', /cannot read certificate .*missing\.pem: ENOENT/],
      ['[tls]\ncert = encrypted.pem\nkey = encrypted.key\n', /an encrypted key needs passphrase-file/],
      ['[tls]\ncert = server.pem\nkey = server.key\nciphers = ALL\n', /bad\.cfg:6 \[tls\]: ciphers: unknown key/],
      ['[tls bad name!]\n', /is not \[tls\] or \[tls SERVER-NAME\]/],
      ['[tls]\ncert = brainpool.pem\nkey = brainpool.key\n', /the TLS engine \(BoringSSL\) cannot use the certificate in .*brainpool\.pem/],
      ['[tls]\ncert = server.pem\nkey = server.key\n[tls brainpool.test]\ncert = brainpool.pem\nkey = brainpool.key\n', /the TLS engine \(BoringSSL\) cannot use the certificate in .*brainpool\.pem/],
    ];
    for (const [config, message] of cases) {
      const result = await run(config);
      assert.equal(result.code, 1, `${config}\n${result.stderr}`);
      assert.match(result.stderr, message);
    }
  });

  test('client-ca is refused, saying why', async () => {
    const result = await run('[tls]\ncert = server.pem\nkey = server.key\nclient-ca = ca.pem\n');
    assert.equal(result.code, 1);
    assert.match(result.stderr, /bad\.cfg:6 \[tls\]: client-ca: client certificates are not available on this engine: .* lets a client that sends none complete the handshake/);
  });

  test('an encrypted key opens with passphrase-file; --tls-cert and --tls-key serve TLS from the command line', async () => {
    writeFileSync(`${dir.path}/encrypted.cfg`, `listen = 127.0.0.1\nport = 0\n[tls]\ncert = encrypted.pem\nkey = encrypted.key\npassphrase-file = passphrase\n`);
    const encrypted = await startWebsocksy([`${dir.path}/encrypted.cfg`]);
    try {
      assert.equal((await httpsGet(encrypted.port, '/', certs.ca)).subject, 'localhost-encrypted');
      assert.doesNotMatch(encrypted.log(), /open sesame/);
    } finally {
      await encrypted.stop();
    }
    const flags = await startWebsocksy(['-l', '127.0.0.1', '-p', '0', '--tls-cert', certs.server.cert, '--tls-key', certs.server.key]);
    try {
      assert.equal((await httpsGet(flags.port, '/', certs.ca)).status, 426);
    } finally {
      await flags.stop();
    }
    // Flags override the file's [tls], as flags do.
    writeFileSync(`${dir.path}/overridden.cfg`, `listen = 127.0.0.1\nport = 0\n[tls]\ncert = server.pem\nkey = server.key\n`);
    const overridden = await startWebsocksy([`${dir.path}/overridden.cfg`, '--tls-cert', certs.renewed.cert, '--tls-key', certs.renewed.key]);
    try {
      assert.equal((await httpsGet(overridden.port, '/', certs.ca)).subject, 'localhost-renewed');
    } finally {
      await overridden.stop();
    }
    const half = await runWebsocksy(['-p', '0', '--tls-cert', certs.server.cert]);
    assert.equal(half.code, 1);
    assert.match(half.stderr, /command line --tls-cert .*: \[tls\] needs cert = FILE and key = FILE \(--tls-cert and --tls-key go together\)/);
  });
});

describe('engine fact behind refusing client-ca', { skip }, () => {
  test('uWS 20.30 with ca_file_name refuses a client certificate from another CA but lets a client without one through', async (t) => {
    const app = engine().uws.SSLApp({ key_file_name: certs.server.key, cert_file_name: certs.server.cert, ca_file_name: certs.ca });
    app.any('/*', (res) => {
      res.end('served');
    });
    const socket = await new Promise<us_listen_socket>((resolve, reject) => app.listen('127.0.0.1', 0, (listen) => (listen === false ? reject(new Error('listen')) : resolve(listen))));
    const port = engine().uws.us_socket_local_port(socket);
    const get = (pair: Pair | null): Promise<string> =>
      new Promise((resolve) => {
        const request = httpsRequest({ host: '127.0.0.1', port, path: '/', ca: readFileSync(certs.ca), servername: 'localhost', agent: false, ...(pair === null ? {} : { cert: readFileSync(pair.cert), key: readFileSync(pair.key) }) }, (response) => {
          let body = '';
          response.on('data', (chunk: Buffer) => (body += chunk.toString()));
          response.on('end', () => resolve(body));
        });
        request.on('error', (error: NodeJS.ErrnoException) => resolve(`error ${error.code ?? error.message}`));
        request.end();
      });
    try {
      assert.equal(await get(certs.client), 'served');
      assert.match(await get(certs.otherClient), /^error /);
      // The hole: if this ever fails, the engine refuses certificate-less clients, and client-ca can be offered.
      assert.equal(await get(null), 'served', 'a client without a certificate was refused: the engine now enforces client certificates');
      t.diagnostic('uWS accepts a client without a certificate although ca_file_name is set');
    } finally {
      engine().uws.us_listen_socket_close(socket);
    }
  });
});

describe('wss:// and https:// upstreams', { skip }, () => {
  const TOKEN = 'tls-test-token';
  let echo: Peer;
  let tunnelServer: RunningWebsocksy;
  let upstream: Awaited<ReturnType<typeof httpsUpstream>>;
  before(async () => {
    echo = await tcpEcho();
    upstream = await httpsUpstream(certs.server);
    writeFileSync(`${dir.path}/identities`, `alice ${TOKEN} connect=${echo.address.replace('tcp://', '')}\n`);
    writeFileSync(
      `${dir.path}/tunnel-server.cfg`,
      `listen = 127.0.0.1\nport = 0\n[tls]\ncert = server.pem\nkey = server.key\n[tunnel]\nidentities = identities\n`,
    );
    tunnelServer = await startWebsocksy([`${dir.path}/tunnel-server.cfg`]);
  });
  after(async () => {
    await tunnelServer.stop();
    await upstream.close();
    await echo.close();
  });
  const tunnelUrl = (): string => `wss://alice@localhost:${tunnelServer.port}/.tunnel`;
  const echoTarget = (): string => echo.address.replace('tcp://', '');

  async function forward(extra: readonly string[]): Promise<RunningWebsocksy> {
    return startWebsocksy(['forward', '--reconnect-min', '0.05', '--reconnect-max', '0.2', '-L', `0:${echoTarget()}`, tunnelUrl(), '--token', TOKEN, ...extra], {
      readyPattern: /forwarding .*ports=([\d,]*)/,
    });
  }

  test('a tunnel client with the CA pinned connects; with another CA, or Node\'s CAs, it is refused naming the host', async () => {
    const good = await forward(['--ca', certs.ca]);
    try {
      await good.waitForLog(/tunnel up/);
    } finally {
      await good.stop();
    }
    for (const extra of [['--ca', certs.otherCa], []]) {
      const bad = await forward(extra);
      try {
        const line = await bad.waitForLog(/tunnel connect failed[^\n]*TLS verification of localhost:\d+ failed[^\n]*/);
        assert.match(line, new RegExp(`localhost:${tunnelServer.port}`));
        assert.doesNotMatch(bad.log(), /tunnel up/);
      } finally {
        await bad.stop();
      }
    }
  });

  test('a tunnel client with the server certificate\'s fingerprint pinned connects; a wrong pin is refused naming the host', async () => {
    const good = await forward(['--fingerprint', fingerprintOf(certs.server.cert)]);
    try {
      await good.waitForLog(/tunnel up/);
    } finally {
      await good.stop();
    }
    const bad = await forward(['--fingerprint', `sha256:${fingerprintOf(certs.renewed.cert).slice(7).toLowerCase().replace(/:/g, '')}`]);
    try {
      const line = await bad.waitForLog(/TLS verification of localhost:\d+ failed: its certificate is sha256:[0-9a-f]+, not the pinned sha256:[0-9a-f]+/);
      assert.ok(line.length > 0);
    } finally {
      await bad.stop();
    }
  });

  test('an [upstream] section with ca = FILE keeps its tunnel up over wss', async () => {
    writeFileSync(
      `${dir.path}/tunnel-client.cfg`,
      `listen = 127.0.0.1\nport = 0\n[upstream home]\nurl = wss://localhost:${tunnelServer.port}/.tunnel\nname = alice\ntoken = ${TOKEN}\nca = ca.pem\nlocal = 0:${echoTarget()}\n`,
    );
    const client = await startWebsocksy([`${dir.path}/tunnel-client.cfg`]);
    try {
      await client.waitForLog(/tunnel up/);
    } finally {
      await client.stop();
    }
    const plain = await runWebsocksy(['forward', '-L', `0:${echoTarget()}`, `ws://alice@localhost:${tunnelServer.port}/.tunnel`, '--token', TOKEN, '--ca', certs.ca]);
    assert.equal(plain.code, 2);
    assert.match(plain.stderr, /ca and fingerprint verify a wss:\/\/ or https:\/\/ server/);
  });

  test('https and wss routes: verified by ca or fingerprint, and a failed verification is a 502 with the host in the log', async () => {
    const base = `https://localhost:${upstream.port}`;
    const socket = `wss://localhost:${upstream.port}/ws`;
    writeFileSync(
      `${dir.path}/routes.cfg`,
      [
        'listen = 127.0.0.1',
        'port = 0',
        '[route /good]', `to = ${base}/`, 'ca = ca.pem',
        '[route /pinned]', `to = ${base}/`, `fingerprint = ${fingerprintOf(certs.server.cert)}`,
        '[route /other-ca]', `to = ${base}/`, 'ca = other-ca.pem',
        '[route /node-cas]', `to = ${base}/`,
        '[route /wrong-pin]', `to = ${base}/`, `fingerprint = ${fingerprintOf(certs.alt.cert)}`,
        '[route /ws-good]', `websocket = ${socket}`, 'ca = ca.pem',
        '[route /ws-bad]', `websocket = ${socket}`, 'ca = other-ca.pem',
        '',
      ].join('\n'),
    );
    const wrongCaServer = await httpsUpstream(certs.wrongCa);
    const expiredServer = await httpsUpstream(certs.expired);
    writeFileSync(
      `${dir.path}/routes.cfg`,
      `${readFileSync(`${dir.path}/routes.cfg`, 'utf8')}[route /wrong-ca-server]\nto = https://localhost:${wrongCaServer.port}/\nca = ca.pem\n[route /expired-server]\nto = https://localhost:${expiredServer.port}/\nca = ca.pem\n`,
    );
    const server = await startWebsocksy([`${dir.path}/routes.cfg`]);
    try {
      for (const [path, port, why] of [['/wrong-ca-server/a', wrongCaServer.port, /unable to verify the first certificate/], ['/expired-server/a', expiredServer.port, /certificate has expired \(CERT_HAS_EXPIRED\)/]] as const) {
        const answer = await httpGet(server.port, path);
        assert.equal(answer.status, 502, path);
        const line = await server.waitForLog(new RegExp(`http upstream failed [^\\n]*route=${path.slice(0, -2)} [^\\n]*why="TLS verification of localhost:${port} failed[^\\n]*`));
        assert.match(line, why);
      }
      for (const path of ['/good/a', '/pinned/a']) {
        const answer = await httpGet(server.port, path);
        assert.equal(answer.status, 200, path);
        assert.equal(answer.body, 'upstream got /a proto=http');
      }
      for (const path of ['/other-ca/a', '/node-cas/a', '/wrong-pin/a']) {
        const answer = await httpGet(server.port, path);
        assert.equal(answer.status, 502, path);
        assert.doesNotMatch(answer.body, /localhost|certificate/i, 'no internal detail for the client');
        await server.waitForLog(new RegExp(`http upstream failed [^\\n]*route=${path.slice(0, -2)} [^\\n]*why="TLS verification of localhost:${upstream.port} failed`));
      }
      const relay = wrap(new WebSocket(`ws://127.0.0.1:${server.port}/ws-good`));
      await once(relay.ws, 'open');
      try {
        await echoes(relay, 'through a wss route');
      } finally {
        await closeClient(relay);
      }
      const refused = new WebSocket(`ws://127.0.0.1:${server.port}/ws-bad`);
      const [, response] = (await once(refused, 'unexpected-response')) as [unknown, { statusCode: number }];
      assert.equal(response.statusCode, 502);
      await server.waitForLog(new RegExp(`websocket upstream failed [^\\n]*why="TLS verification of localhost:${upstream.port} failed \\(CA file [^)]*other-ca\\.pem\\)`));
    } finally {
      await server.stop();
      await wrongCaServer.close();
      await expiredServer.close();
    }
  });

  test('route TLS settings are checked at start', async () => {
    for (const [config, message] of [
      ['[route /x]\nto = http://localhost:1/\nca = ca.pem\n', /ca and fingerprint verify a wss:\/\/ or https:\/\/ server/],
      ['[route /x]\nto = https://localhost:1/\nfingerprint = sha256:abc\n', /fingerprint: "sha256:abc" is not sha256:HEX/],
      ['[route /x]\nto = https://localhost:1/\nca = missing.pem\n', /ca: cannot read CA file .*missing\.pem: ENOENT/],
      ['[route /x]\nto = https://localhost:1/\nvia = home\n[upstream home]\nurl = ws://h/t\nname = a\ntoken = t\n', /through a tunnel \(via\) the upstream is reached over the tunnel's own connection/],
    ] as const) {
      writeFileSync(`${dir.path}/route-bad.cfg`, `listen = 127.0.0.1\nport = 0\n${config}`);
      const result = await runWebsocksy([`${dir.path}/route-bad.cfg`]);
      assert.equal(result.code, 1, result.stderr);
      assert.match(result.stderr, message);
    }
  });
});
