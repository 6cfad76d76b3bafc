/*
 * Who may connect (docs/auth.md), against the real server: bearer tokens from a header, the
 * query, a cookie and the Kubernetes subprotocol (which the client never gets echoed); JWTs
 * made by jose with keys from node:crypto, and each way one is refused (expired, not yet
 * valid, wrong audience or issuer, bad signature, alg none, HS256 signed with the RS256 public
 * key); HTTP Basic with bcrypt and argon2 hashes through curl; Origin allow-lists; claims
 * choosing the file backend's peer; and no credential ever in the log.
 */
import assert from 'node:assert/strict';
import { execFile, spawnSync } from 'node:child_process';
import { generateKeyPairSync, randomBytes, type KeyObject } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';
import { argon2id, bcrypt } from 'hash-wasm';
import { exportJWK, SignJWT, UnsecuredJWT } from 'jose';
import { closeClient, connect, type TestClient } from './helpers/client.js';
import { rawRequest, sendAllThenRead, upgradeRequest } from './helpers/http.js';
import { agent, echoOf, send, startUpstream, type EchoBody, type Upstream } from './helpers/http-upstream.js';
import { streamServer, tcpEcho, tempDir, type Peer } from './helpers/peers.js';
import { curlReply, SKIP_WITHOUT_CURL } from './helpers/curl.js';
import { requireProgram, skipUnlessInstalled } from './helpers/tools.js';
import { runWebsocksy, startWebsocksy, type RunningWebsocksy } from './helpers/websocksy.js';

/** Debian's python, which has python3-websockets (a python3 earlier on PATH may not). */
const PYTHON = '/usr/bin/python3';
const PYTHON_WEBSOCKETS = spawnSync(PYTHON, ['-c', 'import websockets'], { stdio: 'ignore' }).status === 0;
const AUDIENCE = 'websocksy-tests';
const ISSUER = 'https://issuer.test';
const K8S = 'base64url.bearer.authorization.k8s.io.';

const ALICE_TOKEN = `alice-${randomBytes(18).toString('base64url')}`;
const PLAIN_TOKEN = `plain-${randomBytes(18).toString('base64url')}`;
const WEB_TOKEN = `web-${randomBytes(18).toString('base64url')}`;
const BCRYPT_PASSWORD = `bc-${randomBytes(9).toString('hex')}`;
const ARGON_PASSWORD = `ar-${randomBytes(9).toString('hex')}`;
const HS_SECRET = randomBytes(32).toString('hex');

/** Every secret the tests send: none may show in the log. */
const secrets: string[] = [ALICE_TOKEN, PLAIN_TOKEN, WEB_TOKEN, BCRYPT_PASSWORD, ARGON_PASSWORD, HS_SECRET];

function pem(key: KeyObject): string {
  return key.export({ type: 'spki', format: 'pem' }).toString();
}

/** A peer that greets with its name, so the test sees which one the backend chose. */
function namedPeer(name: string): ReturnType<typeof streamServer> {
  return streamServer((socket) => socket.write(`${name}\n`));
}

describe('auth', { skip: SKIP_WITHOUT_CURL }, () => {
  const dir = tempDir('websocksy-auth-');
  const peers: Peer[] = [];
  let upstream: Upstream;
  let server: RunningWebsocksy;
  let rsa: { publicKey: KeyObject; privateKey: KeyObject };
  let otherRsa: { publicKey: KeyObject; privateKey: KeyObject };
  let ec: { publicKey: KeyObject; privateKey: KeyObject };
  let ed: { publicKey: KeyObject; privateKey: KeyObject };

  /** A JWT for the bridge's RS256 section; `edit` changes the claims or the signing. */
  async function rsJwt(edit: (jwt: SignJWT) => SignJWT = (jwt) => jwt, key: KeyObject = rsa.privateKey): Promise<string> {
    const jwt = new SignJWT({ tenant: 'acme' }).setProtectedHeader({ alg: 'RS256' }).setSubject('carol').setAudience(AUDIENCE).setIssuer(ISSUER).setIssuedAt().setExpirationTime('10m');
    const token = await edit(jwt).sign(key);
    secrets.push(token);
    return token;
  }

  /** Opens a bridge connection; resolves with its first line from the peer, or the refusal's status. */
  async function bridgeLine(path: string, protocols?: string | string[], headers?: Record<string, string>): Promise<string> {
    let client;
    try {
      client = await connect(`${server.url}${path}`, protocols, headers);
    } catch (error) {
      return (error as Error).message;
    }
    try {
      return (await client.next()).data.toString().trim();
    } finally {
      await closeClient(client);
    }
  }

  before(async () => {
    rsa = generateKeyPairSync('rsa', { modulusLength: 2048 });
    otherRsa = generateKeyPairSync('rsa', { modulusLength: 2048 });
    ec = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    ed = generateKeyPairSync('ed25519');
    upstream = await startUpstream();
    const [acme, alice, fallback, echo] = await Promise.all([namedPeer('acme'), namedPeer('alice'), namedPeer('fallback'), tcpEcho()]);
    peers.push(acme!, alice!, fallback!, echo!);
    const path = dir.path;
    writeFileSync(`${path}/acme.txt`, `${acme!.address} * newline lf\n`);
    writeFileSync(`${path}/user-alice.txt`, `${alice!.address} * newline lf\n`);
    writeFileSync(`${path}/default.txt`, `${fallback!.address} * newline lf\n`);
    writeFileSync(`${path}/tokens.txt`, `# bridge tokens\n${ALICE_TOKEN} alice\n\n${PLAIN_TOKEN}\n`);
    writeFileSync(`${path}/web-tokens.txt`, `${WEB_TOKEN}\n`);
    writeFileSync(`${path}/rsa.pem`, pem(rsa.publicKey));
    writeFileSync(`${path}/hs.secret`, `${HS_SECRET}\n`);
    const jwks = { keys: [{ ...(await exportJWK(ec.publicKey)), kid: 'ec-1', alg: 'ES256' }, { ...(await exportJWK(ed.publicKey)), kid: 'ed-1', alg: 'EdDSA' }] };
    writeFileSync(`${path}/jwks.json`, JSON.stringify(jwks));
    const bcryptHash = (await bcrypt({ password: BCRYPT_PASSWORD, salt: randomBytes(16), costFactor: 10, outputType: 'encoded' })).replace(/^\$2a\$/, '$2y$');
    const argonHash = await argon2id({ password: ARGON_PASSWORD, salt: randomBytes(16), parallelism: 1, iterations: 2, memorySize: 19456, hashLength: 32, outputType: 'encoded' });
    writeFileSync(`${path}/users.txt`, `# staff\nbea:${bcryptHash}\nart:${argonHash}\n`);
    writeFileSync(
      `${path}/route_whoami.mjs`,
      'export default { async request(request, response) { let bytes = 0; for await (const chunk of request.body) bytes += chunk.length; response.end(JSON.stringify({ auth: request.auth ?? null, bytes, query: request.query })); } };\n',
    );
    writeFileSync(
      `${path}/websocksy.cfg`,
      [
        '[core]',
        'backend = file',
        'auth = tokens, jwt-rs',
        // The expressions take request values (claims, the user): the peers must be allowed.
        'allow-peers = tcp:127.0.0.1:*',
        '[backend]',
        `path = ${path}`,
        'expression = %claim:tenant%.txt',
        'expression = user-%user%.txt',
        'expression = default.txt',
        '[auth tokens]',
        'type = bearer',
        'tokens = tokens.txt',
        'from = header, query:access_token, cookie:session, subprotocol',
        '[auth jwt-rs]',
        'type = jwt',
        'algorithms = RS256',
        'key = rsa.pem',
        `audience = ${AUDIENCE}`,
        `issuer = ${ISSUER}`,
        'leeway = 5',
        'from = header, query:jwt',
        '[auth jwt-jwks]',
        'type = jwt',
        'algorithms = ES256, EdDSA',
        'jwks = jwks.json',
        'require-exp = no',
        '[auth jwt-hs]',
        'type = jwt',
        'algorithms = HS256',
        'key = hs.secret',
        '[auth staff]',
        'type = basic',
        'users = users.txt',
        'realm = staff area',
        '[auth browsers]',
        'type = origin',
        'origins = https://app.example.org, https://*.example.org',
        '[auth web-tokens]',
        'type = bearer',
        'tokens = web-tokens.txt',
        'origins = https://app.example.org',
        '[route /api]',
        `to = http://127.0.0.1:${upstream.port}`,
        'auth = staff, jwt-hs',
        '[route /whoami]',
        'module = route_whoami.mjs',
        'auth = jwt-rs, staff',
        'max-body = 64k',
        '[route /jwks]',
        `peer = ${echo!.address}`,
        'auth = jwt-jwks',
        '[route /web]',
        `peer = ${echo!.address}`,
        'auth = browsers',
        '[route /web-tokens]',
        `peer = ${echo!.address}`,
        'auth = web-tokens',
        '',
      ].join('\n'),
    );
    server = await startWebsocksy([`${path}/websocksy.cfg`, '-l', '127.0.0.1', '-p', '0']);
  });

  after(async () => {
    await server?.stop();
    await upstream?.close();
    for (const peer of peers) await peer.close();
    dir.remove();
  });

  describe('bearer tokens on the bridge', () => {
    test('from the Authorization header; a named token is %user% in the file backend', async () => {
      assert.equal(await bridgeLine('/x', undefined, { Authorization: `Bearer ${ALICE_TOKEN}` }), 'alice');
      assert.equal(await bridgeLine('/x', undefined, { Authorization: `bearer ${PLAIN_TOKEN}` }), 'fallback');
    });

    test('from the query, the parameter gone from what the log shows', async () => {
      assert.equal(await bridgeLine(`/x?access_token=${ALICE_TOKEN}&keep=1`), 'alice');
      await server.waitForLog(/endpoint="\/x\?keep=1"/);
    });

    test('from a cookie', async () => {
      assert.equal(await bridgeLine('/x', undefined, { Cookie: `theme=dark; session=${PLAIN_TOKEN}` }), 'fallback');
    });

    test('from the subprotocol, which is never echoed', async () => {
      const carrier = `${K8S}${Buffer.from(ALICE_TOKEN).toString('base64url')}`;
      const withChat = await connect(`${server.url}/x`, ['chat', carrier]);
      assert.equal(withChat.ws.protocol, 'chat');
      assert.equal((await withChat.next()).data.toString().trim(), 'alice');
      await closeClient(withChat);
      // Offered alone, it leaves nothing to answer (ws refuses that; browsers accept it).
      const alone = await rawRequest(server.port, upgradeRequest('/x', [`Sec-WebSocket-Protocol: ${carrier}`]));
      assert.equal(alone.status, 101);
      assert.equal(alone.headers.get('sec-websocket-protocol'), undefined);
    });

    test("Python's websockets client sends the token as a subprotocol and gets its other one back", { skip: skipUnlessInstalled(PYTHON_WEBSOCKETS, 'python3-websockets') }, async () => {
      requireProgram(PYTHON_WEBSOCKETS ? PYTHON : undefined, 'python3-websockets');
      const carrier = `${K8S}${Buffer.from(ALICE_TOKEN).toString('base64url')}`;
      const script = [
        'import asyncio, sys, websockets',
        'async def main():',
        '    async with websockets.connect(sys.argv[1], subprotocols=sys.argv[2].split(",")) as ws:',
        '        line = await ws.recv()',
        '        print(ws.subprotocol, (line if isinstance(line, str) else line.decode()).strip())',
        'asyncio.run(main())',
      ].join('\n');
      const output = await new Promise<string>((resolve, reject) => {
        execFile(PYTHON, ['-c', script, `${server.url}/x`, `mqtt,${carrier}`], { timeout: 10_000 }, (error, stdout, stderr) => (error === null ? resolve(stdout) : reject(new Error(`${error.message}: ${stderr}`))));
      });
      assert.equal(output.trim(), 'mqtt alice');
    });

    test('no token: 401 with a Bearer challenge; a wrong one: invalid_token', async () => {
      const none = await rawRequest(server.port, upgradeRequest('/x'));
      assert.equal(none.status, 401);
      assert.equal(none.headers.get('www-authenticate'), 'Bearer realm="websocksy"');
      assert.equal(none.body.trim(), 'Unauthorized');
      const wrong = await rawRequest(server.port, upgradeRequest('/x', [`Authorization: Bearer ${PLAIN_TOKEN}x`]));
      assert.equal(wrong.status, 401);
      assert.match(wrong.headers.get('www-authenticate') ?? '', /error="invalid_token"/);
      await server.waitForLog(/\[auth tokens\] unknown token/);
      const badCarrier = await bridgeLine('/x', [`${K8S}not+base64url`]);
      assert.equal(badCarrier, 'HTTP 401');
    });

    test('a session opened over HTTP needs the bridge auth too', async () => {
      const open = ['-X', 'POST', '-H', 'Websocksy-Session: open'];
      assert.equal((await curlReply([...open, `http://127.0.0.1:${server.port}/x`])).status, 401);
      // Admitted; this backend's peers are not resumable, which the next answer says.
      assert.equal((await curlReply([...open, '-H', `Authorization: Bearer ${PLAIN_TOKEN}`, `http://127.0.0.1:${server.port}/x`])).status, 409);
    });
  });

  describe('JWT', () => {
    test('a valid RS256 token: its claims choose the peer (%claim:tenant%)', async () => {
      assert.equal(await bridgeLine('/x', undefined, { Authorization: `Bearer ${await rsJwt()}` }), 'acme');
      assert.equal(await bridgeLine(`/x?jwt=${await rsJwt()}`), 'acme');
    });

    const refusals: Array<[string, () => Promise<string>, RegExp]> = [
      ['expired', () => rsJwt((jwt) => jwt.setExpirationTime(Math.floor(Date.now() / 1000) - 60)), /\[auth jwt-rs\] expired/],
      ['not yet valid', () => rsJwt((jwt) => jwt.setNotBefore(Math.floor(Date.now() / 1000) + 120)), /\[auth jwt-rs\] not yet valid/],
      ['wrong audience', () => rsJwt((jwt) => jwt.setAudience('someone-else')), /\[auth jwt-rs\] wrong audience/],
      ['wrong issuer', () => rsJwt((jwt) => jwt.setIssuer('https://evil.test')), /\[auth jwt-rs\] wrong issuer/],
      ['bad signature', () => rsJwt(undefined, otherRsa.privateKey), /\[auth jwt-rs\] bad signature/],
      ['alg none', async () => new UnsecuredJWT({ tenant: 'acme' }).setSubject('carol').setAudience(AUDIENCE).setIssuer(ISSUER).setExpirationTime('10m').encode(), /\[auth jwt-rs\] alg none refused/],
      [
        'HS256 signed with the RS256 public key (algorithm confusion)',
        async () => {
          const token = await new SignJWT({ tenant: 'acme' }).setProtectedHeader({ alg: 'HS256' }).setSubject('carol').setAudience(AUDIENCE).setIssuer(ISSUER).setExpirationTime('10m').sign(Buffer.from(pem(rsa.publicKey)));
          secrets.push(token);
          return token;
        },
        /\[auth jwt-rs\] alg not allowed/,
      ],
    ];
    for (const [name, make, why] of refusals) {
      test(`${name}: 401 invalid_token, and the log says why`, async () => {
        const reply = await rawRequest(server.port, upgradeRequest('/x', [`Authorization: Bearer ${await make()}`]));
        assert.equal(reply.status, 401);
        assert.match(reply.headers.get('www-authenticate') ?? '', /^Bearer realm="websocksy", error="invalid_token"$/);
        assert.equal(reply.body.trim(), 'Unauthorized');
        await server.waitForLog(why);
      });
    }

    test('ES256 and EdDSA from a JWKS file, chosen by kid', async () => {
      const es = await new SignJWT({}).setProtectedHeader({ alg: 'ES256', kid: 'ec-1' }).setSubject('dan').sign(ec.privateKey);
      const eddsa = await new SignJWT({}).setProtectedHeader({ alg: 'EdDSA', kid: 'ed-1' }).setSubject('eve').sign(ed.privateKey);
      secrets.push(es, eddsa);
      for (const token of [es, eddsa]) {
        const client = await connect(`${server.url}/jwks`, undefined, { Authorization: `Bearer ${token}` });
        client.ws.send('ping');
        assert.equal((await client.next()).data.toString(), 'ping');
        await closeClient(client);
      }
      const unknownKid = await new SignJWT({}).setProtectedHeader({ alg: 'ES256', kid: 'nope' }).setSubject('dan').sign(ec.privateKey);
      assert.equal(await bridgeLine('/jwks', undefined, { Authorization: `Bearer ${unknownKid}` }), 'HTTP 401');
    });
  });

  describe('an HTTP route with Basic or a JWT (curl)', () => {
    const api = (): string => `http://127.0.0.1:${server.port}/api/echo?x=1`;

    test('bcrypt and argon2 users; the upstream never sees the credential', async () => {
      for (const [user, password] of [['bea', BCRYPT_PASSWORD], ['art', ARGON_PASSWORD]] as const) {
        const reply = await curlReply(['-u', `${user}:${password}`, api()]);
        assert.equal(reply.status, 200, reply.body);
        const echoed = JSON.parse(reply.body) as EchoBody;
        assert.equal(echoed.headers.authorization, undefined);
        assert.equal(echoed.url, '/echo?x=1');
      }
    });

    test('a remembered success answers at once; a body waits for the check and arrives whole', async () => {
      const started = Date.now();
      const again = await curlReply(['-u', `bea:${BCRYPT_PASSWORD}`, api()]);
      assert.equal(again.status, 200);
      const rememberedMs = Date.now() - started;
      const body = randomBytes(300 * 1024);
      writeFileSync(`${dir.path}/body.bin`, body);
      // art's argon2 success is remembered too: a new password for the same user is checked afresh.
      const posted = await curlReply(['-u', `art:${ARGON_PASSWORD}`, '--data-binary', `@${dir.path}/body.bin`, '-H', 'Content-Type: application/octet-stream', api()]);
      assert.equal(posted.status, 200, posted.body);
      assert.equal((JSON.parse(posted.body) as EchoBody).bytes, body.length);
      const jwt = await new SignJWT({}).setProtectedHeader({ alg: 'HS256' }).setSubject('svc').setExpirationTime('5m').sign(Buffer.from(`${HS_SECRET}`));
      secrets.push(jwt);
      const viaJwt = await curlReply(['-H', `Authorization: Bearer ${jwt}`, '--data-binary', `@${dir.path}/body.bin`, api()]);
      assert.equal(viaJwt.status, 200, viaJwt.body);
      const echoed = JSON.parse(viaJwt.body) as EchoBody;
      assert.equal(echoed.bytes, body.length);
      assert.equal(echoed.headers.authorization, undefined);
      process.stdout.write(`# remembered Basic request: ${rememberedMs} ms with curl's start\n`);
    });

    test('wrong password, unknown user, no credentials: 401 with both challenges', async () => {
      for (const [args, why] of [
        [['-u', `bea:${ARGON_PASSWORD}`], /\[auth staff\] wrong password for bea/],
        [['-u', `art:${BCRYPT_PASSWORD}`], /\[auth staff\] wrong password for art/],
        [['-u', `mallory:${BCRYPT_PASSWORD}`], /\[auth staff\] unknown user mallory/],
        // bcrypt reads 72 bytes: a longer password that starts with the right one is still wrong.
        [['-u', `bea:${BCRYPT_PASSWORD}${'x'.repeat(80)}`], /\[auth staff\] wrong password for bea/],
        [['-u', 'bea:'], /\[auth staff\] wrong password for bea/],
        [[], /\[auth staff\] no credentials; \[auth jwt-hs\] no token/],
      ] as const) {
        const reply = await curlReply([...args, api()]);
        assert.equal(reply.status, 401);
        assert.match(reply.head, /WWW-Authenticate: Basic realm="staff area", charset="UTF-8", Bearer realm="websocksy"/i);
        assert.equal(reply.body.trim(), 'Unauthorized');
        await server.waitForLog(why);
      }
    });
  });

  test('a route module gets the identity and the claims, and a body held through the check', async () => {
    const token = await rsJwt();
    const viaJwt = await curlReply(['-H', `Authorization: Bearer ${token}`, '--data-binary', 'twelve bytes', `http://127.0.0.1:${server.port}/whoami?jwt=no&a=1`]);
    assert.equal(viaJwt.status, 200, viaJwt.body);
    const seen = JSON.parse(viaJwt.body) as { auth: { method: string; user: string; claims: Record<string, unknown> }; bytes: number; query: string };
    assert.equal(seen.auth.method, 'jwt');
    assert.equal(seen.auth.user, 'carol');
    assert.equal(seen.auth.claims['tenant'], 'acme');
    assert.equal(seen.auth.claims['aud'], AUDIENCE);
    assert.equal(seen.bytes, 12);
    // The jwt parameter is a carrier of this route's section: it is gone, whatever it held.
    assert.equal(seen.query, 'a=1');
    const viaBasic = await curlReply(['-u', `bea:${BCRYPT_PASSWORD}`, `http://127.0.0.1:${server.port}/whoami`]);
    assert.deepEqual((JSON.parse(viaBasic.body) as { auth: unknown }).auth, { method: 'basic', user: 'bea', claims: null });
  });

  test('a held body over max-body: 413 once admitted, to a client that sends it all before it reads', async () => {
    // The JWT check is asynchronous, so the request is held (its socket paused) through it; the
    // 413 must set the socket reading again, or the client blocks on its write for good. The
    // body is more than the socket buffers on both sides take (tcp_rmem grows to 32 MiB here).
    const token = await rsJwt();
    const body = Buffer.alloc(64 * 1024 * 1024, 5);
    const head = `POST /whoami HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${token}\r\nContent-Length: ${body.length}\r\n\r\n`;
    const answer = await sendAllThenRead(server.port, Buffer.concat([Buffer.from(head), body]));
    assert.equal(answer.status, 413, answer.raw);
    assert.equal(answer.headers.get('connection'), 'close');
  });

  describe('slow checks', () => {
    const basic = (user: string, password: string): string => `Authorization: Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;

    test('password checks run off the event loop: an open connection keeps echoing meanwhile', async () => {
      const token = await new SignJWT({}).setProtectedHeader({ alg: 'ES256', kid: 'ec-1' }).setSubject('dan').sign(ec.privateKey);
      secrets.push(token);
      const client = await connect(`${server.url}/jwks`, undefined, { Authorization: `Bearer ${token}` });
      const started = Date.now();
      const checks = Array.from({ length: 8 }, (_, index) =>
        rawRequest(server.port, `GET /api/echo HTTP/1.1\r\nHost: x\r\nConnection: close\r\n${basic('bea', `wrong-${index}`)}\r\n\r\n`),
      );
      let slowest = 0;
      let rounds = 0;
      let settled = false;
      const all = Promise.all(checks).finally(() => {
        settled = true;
      });
      while (!settled || rounds < 5) {
        const sent = Date.now();
        client.ws.send('x');
        await client.next();
        slowest = Math.max(slowest, Date.now() - sent);
        rounds++;
      }
      const replies = await all;
      const checksMs = Date.now() - started;
      await closeClient(client);
      for (const reply of replies) assert.equal(reply.status, 401);
      process.stdout.write(`# 8 bcrypt checks took ${checksMs} ms; meanwhile ${rounds} echoes, the slowest ${slowest} ms\n`);
      assert.ok(slowest < 1000, `an echo waited ${slowest} ms`);
    });

    test('a client that leaves while its password is checked costs nothing more', async () => {
      const { connect: connectTcp } = await import('node:net');
      const socket = connectTcp(server.port, '127.0.0.1');
      await new Promise((resolve) => socket.once('connect', resolve));
      socket.write(`POST /api/echo HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n${basic('art', 'leaving-early')}\r\n\r\n${'x'.repeat(1000)}`);
      socket.destroy();
      const reply = await curlReply(['-u', `bea:${BCRYPT_PASSWORD}`, '--data-binary', 'after', `http://127.0.0.1:${server.port}/api/echo`]);
      assert.equal(reply.status, 200);
      assert.equal((JSON.parse(reply.body) as EchoBody).bytes, 5);
    });

    test('a chunked body waits for a JWT check and arrives whole', async () => {
      const jwt = await new SignJWT({}).setProtectedHeader({ alg: 'HS256' }).setSubject('svc').setExpirationTime('5m').sign(Buffer.from(HS_SECRET));
      secrets.push(jwt);
      const body = randomBytes(64 * 1024);
      writeFileSync(`${dir.path}/chunked.bin`, body);
      const reply = await curlReply(['-H', `Authorization: Bearer ${jwt}`, '-H', 'Transfer-Encoding: chunked', '--data-binary', `@${dir.path}/chunked.bin`, `http://127.0.0.1:${server.port}/api/echo`]);
      assert.equal(reply.status, 200, reply.body);
      assert.equal((JSON.parse(reply.body) as EchoBody).bytes, body.length);
    });

    test('keep-alive survives held bodies: a refused POST, then admitted ones, on one connection', async () => {
      const auth = (password: string): Record<string, string> => ({ authorization: `Basic ${Buffer.from(`art:${password}`).toString('base64')}` });
      const sockets = new Set<unknown>();
      const watch = (socket: unknown): void => {
        sockets.add(socket);
      };
      agent.on('free', watch);
      try {
        const refused = await send(server.port, '/api/echo', { method: 'POST', headers: auth('not-it'), body: 200_000 });
        assert.equal(refused.status, 401);
        const jwt = await new SignJWT({}).setProtectedHeader({ alg: 'HS256' }).setSubject('svc').setExpirationTime('5m').sign(Buffer.from(HS_SECRET));
        secrets.push(jwt);
        // A remembered password (answered at once), then a JWT (held while its signature is checked).
        for (const headers of [auth(ARGON_PASSWORD), { authorization: `Bearer ${jwt}` }]) {
          const admitted = await send(server.port, '/api/echo', { method: 'POST', headers, body: 200_000 });
          assert.equal(admitted.status, 200, admitted.text);
          assert.equal(echoOf(admitted).bytes, 200_000);
        }
      } finally {
        agent.off('free', watch);
      }
      assert.equal(sockets.size, 1, 'one connection carried all three');
    });

    test("the bridge's open line names the admitted user", async () => {
      await server.waitForLog(/info  open .*user=alice/);
    });
  });

  describe('Origin', () => {
    const origin = (value: string | null): Record<string, string> => (value === null ? {} : { Origin: value });
    const web = async (value: string | null, path = '/web', headers: Record<string, string> = {}): Promise<string> => {
      const reply = await rawRequest(server.port, upgradeRequest(path, Object.entries({ ...origin(value), ...headers }).map(([name, text]) => `${name}: ${text}`)));
      return String(reply.status);
    };

    test('type = origin: listed origins and subdomains only; none at all is refused', async () => {
      assert.equal(await web('https://app.example.org'), '101');
      assert.equal(await web('https://deep.sub.example.org'), '101');
      assert.equal(await web('https://example.org'), '403');
      assert.equal(await web('https://app.example.org.evil.test'), '403');
      assert.equal(await web('http://app.example.org'), '403');
      assert.equal(await web('null'), '403');
      assert.equal(await web(null), '403');
      await server.waitForLog(/\[auth browsers\] origin https:\/\/example\.org not allowed/);
    });

    test('origins in a bearer section: the token and the origin; a client without Origin needs only the token', async () => {
      const token = { Authorization: `Bearer ${WEB_TOKEN}` };
      assert.equal(await web('https://app.example.org', '/web-tokens', token), '101');
      assert.equal(await web(null, '/web-tokens', token), '101');
      assert.equal(await web('https://evil.test', '/web-tokens', token), '403');
      assert.equal(await web('https://app.example.org', '/web-tokens'), '401');
    });
  });

  test('SIGHUP reads the token files again; a broken one keeps the previous tokens', async () => {
    const fresh = `fresh-${randomBytes(18).toString('base64url')}`;
    secrets.push(fresh);
    const status = async (token: string): Promise<number> =>
      (await rawRequest(server.port, upgradeRequest('/web-tokens', [`Authorization: Bearer ${token}`]))).status;
    writeFileSync(`${dir.path}/web-tokens.txt`, `${fresh}\n`);
    server.process.kill('SIGHUP');
    await server.waitForLog(/ reloaded generation=1/);
    assert.equal(await status(fresh), 101);
    assert.equal(await status(WEB_TOKEN), 401);
    writeFileSync(`${dir.path}/web-tokens.txt`, 'short\n');
    server.process.kill('SIGHUP');
    await server.waitForLog(/reload refused: the running configuration stays .*web-tokens\.txt:1: the token is shorter/);
    assert.equal(await status(fresh), 101);
  });

  test('no secret ever reached the log', () => {
    const log = server.log();
    for (const secret of secrets) assert.ok(!log.includes(secret), `a secret (${secret.slice(0, 8)}…) is in the log`);
    assert.ok(!log.includes(Buffer.from(ALICE_TOKEN).toString('base64url')));
  });

  test('a server that checked passwords exits at once when stopped, not after its shutdown grace', async () => {
    // The password workers were unref'd before their listeners were added, which refs them
    // again: the process stayed up until its 6 s grace ran out (a bare stop takes ~20 ms).
    const started = Date.now();
    assert.equal(await server.stop(), 0);
    const ms = Date.now() - started;
    assert.ok(ms < 3000, `exited ${ms} ms after SIGINT`);
  });
});

describe('auth config errors', () => {
  const dir = tempDir('websocksy-auth-config-');
  after(() => dir.remove());

  /** Runs websocksy on a config of `lines`; resolves with its exit code and stderr. */
  async function refused(lines: readonly string[]): Promise<{ code: number | null; stderr: string }> {
    const config = `${dir.path}/bad.cfg`;
    writeFileSync(config, [...lines, ''].join('\n'));
    const { code, stderr } = await runWebsocksy([config, '-l', '127.0.0.1', '-p', '0']);
    return { code, stderr };
  }

  test('a plain-text password is refused at start, naming the users file and line but not the password', async () => {
    const hash = await bcrypt({ password: 'x', salt: randomBytes(16), costFactor: 4, outputType: 'encoded' });
    writeFileSync(`${dir.path}/users.txt`, `ok:${hash}\n# comment\nplain:hunter2-secret\n`);
    const { code, stderr } = await refused(['[auth staff]', 'type = basic', 'users = users.txt']);
    assert.equal(code, 1);
    assert.match(stderr, /bad\.cfg:3 \[auth staff\]: users: .*users\.txt:3: the password of user plain is not a bcrypt/);
    assert.ok(!stderr.includes('hunter2'));
    writeFileSync(`${dir.path}/users.txt`, `md5:$1$abcdefgh$abcdefghijklmnopqrstuv\n`);
    assert.match((await refused(['[auth staff]', 'type = basic', 'users = users.txt'])).stderr, /users\.txt:1: the password of user md5 is not/);
  });

  test('token-env: the token comes from the environment; an unset variable is an error', async () => {
    const token = `env-${randomBytes(18).toString('base64url')}`;
    const config = `${dir.path}/env.cfg`;
    writeFileSync(config, '[core]\nauth = env\n[auth env]\ntype = bearer\ntoken-env = WEBSOCKSY_TEST_TOKEN\nfrom = query:t\n');
    assert.match((await refused(['[auth env]', 'type = bearer', 'token-env = WEBSOCKSY_TEST_UNSET'])).stderr, /token-env: the environment variable WEBSOCKSY_TEST_UNSET is not set/);
    process.env['WEBSOCKSY_TEST_TOKEN'] = token;
    let server: RunningWebsocksy;
    try {
      server = await startWebsocksy([config, '-l', '127.0.0.1', '-p', '0']);
    } finally {
      delete process.env['WEBSOCKSY_TEST_TOKEN'];
    }
    try {
      // Admitted: what follows is the default peer's business (nothing listens there: 502).
      assert.ok([101, 502, 504].includes((await rawRequest(server.port, upgradeRequest(`/x?t=${token}`))).status));
      assert.equal((await rawRequest(server.port, upgradeRequest(`/x?t=${token}x`))).status, 401);
      assert.ok(!server.log().includes(token));
    } finally {
      await server.stop();
    }
  });

  test('max-connections-per-identity counts the admitted user', async () => {
    const echo = await tcpEcho();
    const named = `named-${randomBytes(18).toString('base64url')}`;
    const anonymous = `anon-${randomBytes(18).toString('base64url')}`;
    writeFileSync(`${dir.path}/capped-tokens.txt`, `${named} alice\n${anonymous}\n`);
    const config = `${dir.path}/capped.cfg`;
    writeFileSync(config, `[core]\nauth = t\nmax-connections-per-identity = 1\n[backend]\nhost = ${echo.address}\n[auth t]\ntype = bearer\ntokens = capped-tokens.txt\n`);
    const server = await startWebsocksy([config, '-l', '127.0.0.1', '-p', '0']);
    const open = (token: string): Promise<TestClient> => connect(server.url, undefined, { Authorization: `Bearer ${token}` });
    const clients: TestClient[] = [];
    try {
      clients.push(await open(named));
      const second = await rawRequest(server.port, upgradeRequest('/', [`Authorization: Bearer ${named}`]));
      assert.equal(second.status, 429);
      assert.ok(second.headers.has('retry-after'));
      await server.waitForLog(/identity alice has 1 connections open/);
      clients.push(await open(anonymous), await open(anonymous));
    } finally {
      for (const client of clients) await closeClient(client);
      await server.stop();
      await echo.close();
    }
  });

  test('a section no auth key names is warned about at start', async () => {
    const config = `${dir.path}/lonely.cfg`;
    writeFileSync(config, '[auth lonely]\ntype = origin\norigins = https://a.example\n');
    const server = await startWebsocksy([config, '-l', '127.0.0.1', '-p', '0']);
    try {
      assert.match(server.log(), /warn  auth section guards nothing section=lonely fix=/);
    } finally {
      await server.stop();
    }
  });

  test('an auth name without its section names the line that uses it', async () => {
    const route = await refused(['[route /x]', 'static = .', 'auth = nope']);
    assert.equal(route.code, 1);
    assert.match(route.stderr, /bad\.cfg:3 \[route \/x\]: auth: there is no \[auth nope\] section/);
    const core = await refused(['[core]', 'auth = missing']);
    assert.match(core.stderr, /bad\.cfg:2 \[core\]: auth: there is no \[auth missing\] section/);
  });

  test('a PEM key with HS256 allowed, a short token, an unknown key, an empty section', async () => {
    const { publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    writeFileSync(`${dir.path}/ec.pem`, pem(publicKey));
    const confused = await refused(['[auth j]', 'type = jwt', 'algorithms = ES256, HS256', 'key = ec.pem']);
    assert.match(confused.stderr, /bad\.cfg:4 \[auth j\]: key: .*ec\.pem is a PEM key, which is no HS256 secret/);
    writeFileSync(`${dir.path}/rsa.pem`, pem(generateKeyPairSync('rsa', { modulusLength: 2048 }).publicKey));
    assert.match((await refused(['[auth j]', 'type = jwt', 'algorithms = ES256, EdDSA', 'key = rsa.pem'])).stderr, /key: .*rsa\.pem is a key of type rsa, which none of ES256, EdDSA verifies with/);
    writeFileSync(`${dir.path}/p384.pem`, pem(generateKeyPairSync('ec', { namedCurve: 'P-384' }).publicKey));
    assert.match((await refused(['[auth j]', 'type = jwt', 'algorithms = ES256', 'key = p384.pem'])).stderr, /p384\.pem is a key of type ec \(not P-256\)/);
    writeFileSync(`${dir.path}/short.txt`, 'abc\n');
    assert.match((await refused(['[auth t]', 'type = bearer', 'tokens = short.txt'])).stderr, /short\.txt:1: the token is shorter than 16 characters/);
    assert.match((await refused(['[auth t]', 'type = origin', 'origins = https://a.example', 'tokens = x'])).stderr, /bad\.cfg:4 \[auth t\]: tokens: unknown key for type = origin/);
    assert.match((await refused(['[auth t]', 'type = jwt', 'key = ec.pem'])).stderr, /\[auth t\] needs algorithms/);
    assert.match((await refused(['[auth t]', 'type = origin', 'origins = https://a.example/path'])).stderr, /origins: "https:\/\/a\.example\/path" is not an origin/);
  });
});
