/*
 * Destination allow-lists (docs/allow-lists.md): the one grammar, its checks on resolved
 * addresses, and each place a client's input can choose a peer — plugin answers (JS and C),
 * templated file-backend expressions, routes' upstreams, tunnel destinations — with real peers,
 * and the escapes a client would try: `..` in unix paths, IPv4-mapped IPv6, a name that
 * resolves to a denied address, decimal/hex/octal/short IPv4 forms, port range edges.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { connect as connectTcp, type AddressInfo, type LookupFunction } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { WebSocketServer } from 'ws';
import { DestinationAllowList, DestinationDenied, DestinationUnresolved, type Destination, type Resolver } from '../src/lib/destination-allow.js';
import { parseDestinationRule, parseDestinationRules } from '../src/lib/destination-rules.js';
import { normaliseSocketPath, PathGlob } from '../src/lib/path-glob.js';
import { makeCertificates } from './helpers/certificates.js';
import { closeClient, connect } from './helpers/client.js';
import { curl, SKIP_WITHOUT_CURL } from './helpers/curl.js';
import { rawRequest } from './helpers/http.js';
import { BUILT_PLUGINS } from './helpers/plugins.js';
import { streamServer, tcpEcho, tempDir, udpEcho, unixDgramEcho, unixEcho, type Peer } from './helpers/peers.js';
import { startForward, startTunnelServer } from './helpers/tunnel.js';
import { runWebsocksy, startWebsocksy, type RunningWebsocksy } from './helpers/websocksy.js';

const LOCAL = ['-l', '127.0.0.1', '-p', '0', '-k', '0'];

/** A resolver that knows a few made-up names, as a DNS server an attacker controls would answer. */
const fakeDns: Resolver = (name) => {
  const table: Record<string, readonly string[]> = {
    'evil.test': ['127.0.0.1'],
    'mapped.test': ['::ffff:127.0.0.1'],
    'mixed.test': ['127.0.0.1', '10.9.8.7'],
    'db.internal': ['192.0.2.10'],
  };
  const addresses = table[name];
  return addresses === undefined ? Promise.reject(Object.assign(new Error('not found'), { code: 'ENOTFOUND' })) : Promise.resolve(addresses);
};

function list(rules: string): DestinationAllowList {
  return new DestinationAllowList(parseDestinationRules(rules), 'the test list', fakeDns);
}

const tcp = (host: string, port: number): Destination => ({ transport: 'tcp', host, port });

async function denied(allow: DestinationAllowList, destination: Destination, why: RegExp): Promise<void> {
  await assert.rejects(allow.check(destination), (error: Error) => {
    assert.ok(error instanceof DestinationDenied, `${error.name}: ${error.message}`);
    assert.match(error.message, why);
    return true;
  });
}

describe('the rule grammar', () => {
  test('each kind of rule, and the tunnel identities\' original HOST:PORTS', () => {
    const kinds = ['tcp:db.internal:5432', 'udp:[::1]:53', 'tcp:*.example.com:443', 'tcp:10.0.0.0/8:*', 'tcp:[fd00::]/8:1-1024', 'tcp:[fd00::/8]:1', 'tcp:*:80', 'unix:/run/vnc/*.sock', 'unix-dgram:/run/**', '127.0.0.1:22', '[::1]:1-65535'];
    for (const text of kinds) assert.equal(parseDestinationRule(text).text, text);
    assert.equal(parseDestinationRule('127.0.0.1:22').transport, 'tcp');
    assert.equal(parseDestinationRules('tcp:a:1, ,udp:b:2,').length, 2);
  });

  test('malformed rules are refused, each saying why', () => {
    const bad: Array<[string, RegExp]> = [
      ['tcp:127.1:80', /is a number but not an address/],
      ['tcp:2130706433:80', /is a number but not an address/],
      ['tcp:0x7f000001:80', /is a number but not an address/],
      ['tcp:0177.0.0.1:80', /is a number but not an address/],
      ['tcp:host', /is not host:ports/],
      ['tcp:::1:80', /IPv6 host goes in brackets/],
      ['tcp:10.0.0.0/33:1', /bad prefix length/],
      ['tcp:[::ffff:10.0.0.0]/64:1', /beyond the IPv4-mapped range/],
      ['tcp:h:0', /not a port/],
      ['tcp:h:9-8', /runs backwards/],
      ['tcp:h:70000', /not a port/],
      ['tcp:*.:1', /not \*\.DOMAIN/],
      ['tcp:bad_host!:1', /neither an address nor a host name/],
      ['sctp:h:1', /unknown transport "sctp"/],
      ['unix:run/x.sock', /not an absolute path/],
      ['unix:/run/../etc/x', /empty, \. or \.\. segment/],
      ['unix:/run//x', /empty, \. or \.\. segment/],
      ['unix:/run/a**', /\*\* stands only as a whole segment/],
    ];
    for (const [text, why] of bad) assert.throws(() => parseDestinationRule(text), why, text);
    assert.throws(() => parseDestinationRules(' , '), /no rules/);
    assert.throws(() => parseDestinationRules('tcp:a:1, tcp:b'), /rule "tcp:b": "b" is not host:ports/);
  });
});

describe('checks, with a resolver the test controls', () => {
  test('addresses and CIDRs; an IPv6 rule never covers IPv4 (not even [::]/0)', async () => {
    const allow = list('tcp:10.0.0.0/8:*, tcp:[fd00::]/8:*, udp:[::]/0:53');
    assert.deepEqual(await allow.check(tcp('10.1.2.3', 80)), tcp('10.1.2.3', 80));
    assert.deepEqual(await allow.check(tcp('fd00::1', 80)), tcp('fd00::1', 80));
    assert.deepEqual(await allow.check(tcp('[fd00:0::1]', 80)), tcp('fd00::1', 80), 'brackets dropped, spelling made canonical');
    await denied(allow, tcp('11.0.0.1', 80), /tcp:11\.0\.0\.1:80 is not in the test list/);
    await denied(allow, tcp('fe00::1', 80), /is not in/);
    await denied(allow, { transport: 'udp', host: '127.0.0.1', port: 53 }, /is not in/);
    await denied(allow, { transport: 'udp', host: '10.1.2.3', port: 53 }, /is not in/);
    await denied(allow, { transport: 'udp', host: '10.1.2.3', port: 54 }, /udp port 54 is not in/);
  });

  test('IPv4-mapped IPv6 is the IPv4 address, on the rule side and the destination side', async () => {
    const allow = list('tcp:10.0.0.0/8:*, tcp:[::ffff:192.168.0.0]/112:*');
    for (const host of ['::ffff:10.1.2.3', '[::ffff:10.1.2.3]', '::ffff:a01:203', '0:0:0:0:0:ffff:a01:203']) assert.deepEqual(await allow.check(tcp(host, 1)), tcp('10.1.2.3', 1), host);
    assert.deepEqual(await allow.check(tcp('192.168.7.7', 1)), tcp('192.168.7.7', 1));
    for (const host of ['::ffff:127.0.0.1', '::ffff:7f00:1', '[::ffff:7f00:1]']) await denied(allow, tcp(host, 1), /is not in/);
    // Only ::ffff:0:0/96 carries IPv4 to the kernel; the other embeddings are plain IPv6 and stay so.
    for (const host of ['::10.1.2.3', '::ffff:0:a01:203', '64:ff9b::a01:203']) await denied(allow, tcp(host, 1), /is not in/);
  });

  test('decimal, hex, octal and short IPv4 forms are refused as malformed, even by a rule covering 127.0.0.1', async () => {
    for (const rules of ['tcp:127.0.0.1:*', 'tcp:10.0.0.0/8:*', 'tcp:*:*']) {
      const allow = list(rules);
      for (const host of ['2130706433', '0x7f000001', '0X7F000001', '0177.0.0.1', '127.1', '127.0.1', '127.000.000.001', '0x7f.0.0.1', '127.0.0.1.', '017700000001']) {
        await denied(allow, tcp(host, 80), /is a number but not an address/);
      }
      for (const host of ['fe80::1%eth0', '[fe80::1%25eth0]', 'bad host', '', 'a..b', `${'a'.repeat(64)}.test`]) await denied(allow, tcp(host, 80), /scoped address|neither an address nor a host name/);
    }
    assert.deepEqual(await list('tcp:127.0.0.1:*').check(tcp('[::ffff:7f00:1]', 80)), tcp('127.0.0.1', 80), 'the mapped form is normalised, and allowed by a rule that covers 127.0.0.1');
  });

  test('a name is checked on the addresses it resolves to, and the checked address is what to dial', async () => {
    const allow = list('tcp:10.0.0.0/8:*');
    await denied(allow, tcp('evil.test', 80), /tcp:evil\.test:80 resolves to 127\.0\.0\.1, which the test list does not cover/);
    await denied(allow, tcp('mapped.test', 80), /resolves to 127\.0\.0\.1/);
    assert.deepEqual(await allow.check(tcp('mixed.test', 80)), tcp('10.9.8.7', 80), 'the covered address, not the first one');
    await assert.rejects(allow.check(tcp('nowhere.test', 80)), (error: Error) => error instanceof DestinationUnresolved && /cannot resolve nowhere\.test: ENOTFOUND/.test(error.message));
    // Denied before any lookup: no rule for the port, or only name rules that do not match.
    let asked = 0;
    const counting = new DestinationAllowList(parseDestinationRules('tcp:10.0.0.0/8:80, tcp:db.internal:5432'), 'counting', (name) => {
      asked++;
      return fakeDns(name);
    });
    await denied(counting, tcp('evil.test', 81), /tcp port 81 is not in counting/);
    await denied(counting, tcp('evil.test', 5432), /tcp:evil\.test:5432 is not in counting/);
    assert.equal(asked, 0);
  });

  test('name rules match the name (case and a final dot aside) and dial what it resolves to; *.suffix matches names under it only', async () => {
    const allow = list('tcp:db.internal:5432, tcp:*.internal:80');
    assert.deepEqual(await allow.check(tcp('DB.Internal.', 5432)), tcp('192.0.2.10', 5432));
    assert.deepEqual(await allow.check(tcp('db.internal', 80)), tcp('192.0.2.10', 80));
    await denied(allow, tcp('internal', 80), /is not in/);
    await denied(allow, tcp('db.internal.evil.test', 80), /is not in/);
    await denied(allow, tcp('192.0.2.10', 5432), /is not in/);
  });

  test('port ranges include both ends and nothing past them; * is every port', async () => {
    const allow = list('tcp:10.0.0.1:5900-5910, udp:10.0.0.1:*');
    for (const port of [5900, 5901, 5909, 5910]) assert.deepEqual(await allow.check(tcp('10.0.0.1', port)), tcp('10.0.0.1', port));
    for (const port of [5899, 5911, 1, 65535]) await denied(allow, tcp('10.0.0.1', port), /port \d+ is not in/);
    for (const port of [1, 65535]) assert.deepEqual(await allow.check({ transport: 'udp', host: '10.0.0.1', port }), { transport: 'udp', host: '10.0.0.1', port });
  });

  test('unix paths: normalised, refused when relative or climbing with .., matched by segment', async () => {
    const allow = list('unix:/run/vnc/*.sock, unix-dgram:/run/dgram/**, unix:/srv/*/app.sock');
    const unix = (path: string): Destination => ({ transport: 'unix', path });
    assert.deepEqual(await allow.check(unix('/run/vnc/a.sock')), unix('/run/vnc/a.sock'));
    assert.deepEqual(await allow.check(unix('//run/./vnc//a.sock')), unix('/run/vnc/a.sock'));
    assert.deepEqual(await allow.check(unix('/srv/one/app.sock')), unix('/srv/one/app.sock'));
    await denied(allow, unix('/run/vnc/../docker.sock'), /climbs with \.\./);
    await denied(allow, unix('/run/vnc/x/../a.sock'), /climbs with \.\./);
    await denied(allow, unix('/run/vnc/..'), /climbs with \.\./);
    await denied(allow, unix('run/vnc/a.sock'), /not an absolute path/);
    await denied(allow, unix('/run/vnc/a.sock\0x'), /NUL/);
    await denied(allow, unix('/run/vnc/sub/a.sock'), /is not in/);
    await denied(allow, unix('/run/vnc/a.sockx'), /is not in/);
    await denied(allow, unix('/srv/a/b/app.sock'), /is not in/);
    await denied(allow, { transport: 'unix-dgram', path: '/run/vnc/a.sock' }, /is not in/);
    for (const path of ['/run/dgram/a', '/run/dgram/a/b/c']) assert.deepEqual(await allow.check({ transport: 'unix-dgram', path }), { transport: 'unix-dgram', path });
    await denied(allow, { transport: 'unix', path: '/run/dgram/a' }, /is not in/);
    assert.deepEqual(normaliseSocketPath('/a/./b//c/'), { path: '/a/b/c' });
    assert.ok(PathGlob.parse('/a/**/z').matches('/a/z') && PathGlob.parse('/a/**/z').matches('/a/b/c/z') && !PathGlob.parse('/a/**/z').matches('/b/z'));
  });

  test('a lookup for node:net answers with the checked address, both ways node asks', async () => {
    const lookup: LookupFunction = list('tcp:10.0.0.0/8:80').lookupFor(80);
    const one = await new Promise<unknown[]>((resolve) => lookup('mixed.test', {}, (...args: unknown[]) => resolve(args)));
    assert.deepEqual(one, [null, '10.9.8.7', 4]);
    const all = await new Promise<unknown[]>((resolve) => lookup('mixed.test', { all: true }, (...args: unknown[]) => resolve(args)));
    assert.deepEqual(all, [null, [{ address: '10.9.8.7', family: 4 }]]);
    const refused = await new Promise<unknown[]>((resolve) => lookup('evil.test', { all: true }, (...args: unknown[]) => resolve(args)));
    assert.ok(refused[0] instanceof DestinationDenied);
  });

  test('coversLiteral answers for addresses and paths at start-up, and leaves names to each connection', () => {
    const allow = list('tcp:127.0.0.1:80, unix:/run/*.sock');
    assert.equal(allow.coversLiteral(tcp('127.0.0.1', 80)), true);
    assert.equal(allow.coversLiteral(tcp('127.0.0.2', 80)), false);
    assert.equal(allow.coversLiteral(tcp('localhost', 80)), undefined);
    assert.equal(allow.coversLiteral({ transport: 'unix', path: '/run/a.sock' }), true);
    assert.equal(allow.coversLiteral({ transport: 'unix', path: '/run/../a.sock' }), false);
  });
});

/** A JS backend that goes wherever the client's X-Peer header says: the worst a plugin can do. */
const STEERED_BACKEND = `export default () => ({
  name: 'steered',
  query: (q) => {
    const peer = q.headers.find((header) => header.name === 'x-peer');
    return peer === undefined ? null : { host: peer.value };
  },
});
`;

/** `peer`: what the steered plugin is asked for (null: no header, for other backends). */
async function expectRefused(server: RunningWebsocksy, peer: string | null, why: RegExp): Promise<void> {
  await assert.rejects(connect(`${server.url}/x`, undefined, peer === null ? {} : { 'X-Peer': peer }), /HTTP 403/, peer ?? undefined);
  await server.waitForLog(why);
}

async function expectEcho(server: RunningWebsocksy, peer: string | null, path = '/x'): Promise<void> {
  const client = await connect(`${server.url}${path}`, undefined, peer === null ? {} : { 'X-Peer': peer });
  client.ws.send('through');
  assert.equal((await client.next()).data.toString(), 'through', peer ?? path);
  await closeClient(client);
}

const escape = (text: string): string => text.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');

describe('plugin answers and allow-peers, with real peers', () => {
  const dir = tempDir('websocksy-allow-');
  const peers: Peer[] = [];
  let echo: Peer & { server: import('node:net').Server };
  let echoPort: number;
  let udp: Peer;
  let unixOk: Peer;
  let unixOther: Peer;
  let dgramOk: Peer;
  /** Connections the tcp echo has taken. */
  let dialled = 0;
  before(async () => {
    writeFileSync(`${dir.path}/backend_steered.mjs`, STEERED_BACKEND);
    mkdirSync(`${dir.path}/vnc`);
    mkdirSync(`${dir.path}/dgram`);
    echo = await streamServer((socket) => {
      dialled++;
      socket.pipe(socket);
    });
    echoPort = (echo.server.address() as AddressInfo).port;
    udp = await udpEcho();
    unixOk = await unixEcho(`${dir.path}/vnc/ok.sock`);
    unixOther = await unixEcho(`${dir.path}/other.sock`);
    dgramOk = await unixDgramEcho(`${dir.path}/dgram/ok`);
    peers.push(echo, udp, unixOk, unixOther, dgramOk);
  });
  after(async () => {
    for (const peer of peers) await peer.close();
    dir.remove();
  });

  test('without allow-peers, a plugin answer is refused with 403 and a log line naming the destination and the fix', async () => {
    const server = await startWebsocksy([...LOCAL, '-P', dir.path, '-b', 'steered']);
    try {
      await server.waitForLog(/warn .*allow-peers is not set: every upgrade the bridge would send to a peer is refused backend=steered/);
      await expectRefused(server, echo.address, new RegExp(`refused .*status="403 Forbidden" why="backend \\\\"steered\\\\" chose ${escape(echo.address)}, and plugin answers depend on the request; to allow it, add it to \\[core\\] allow-peers \\(allow-peers = tcp:127\\.0\\.0\\.1:${echoPort}\\)"`));
      const answer = await rawRequest(server.port, `GET /x HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\nX-Peer: ${echo.address}\r\n\r\n`);
      assert.equal(answer.status, 403);
      assert.doesNotMatch(answer.body, /127\.0\.0\.1|allow-peers/, 'the client learns nothing of the destination');
      assert.equal(dialled, 0, 'nothing was dialled');
    } finally {
      await server.stop();
    }
  });

  test('with allow-peers: each rule kind lets its peer through and refuses its neighbours', async () => {
    const rules = [`tcp:127.0.0.1:${echoPort}`, `udp:127.0.0.1:*`, `unix:${dir.path}/vnc/*.sock`, `unix-dgram:${dir.path}/dgram/*`].join(',');
    const server = await startWebsocksy([...LOCAL, '-P', dir.path, '-b', 'steered', '--allow-peers', rules]);
    try {
      assert.doesNotMatch(server.log(), /allow-peers is not set/);
      await expectEcho(server, echo.address);
      await expectEcho(server, `tcp://localhost:${echoPort}`);
      await expectEcho(server, `tcp://[::ffff:127.0.0.1]:${echoPort}`);
      await expectEcho(server, `tcp://[::ffff:7f00:1]:${echoPort}`);
      await expectEcho(server, udp.address);
      await expectEcho(server, unixOk.address);
      await expectEcho(server, `unix://${dir.path}//vnc/./ok.sock`);
      await expectEcho(server, dgramOk.address);
      // Port range edges: the rule's one port is both its ends.
      await expectRefused(server, `tcp://127.0.0.1:${echoPort + 1}`, new RegExp(`why="backend \\\\"steered\\\\" chose tcp://127\\.0\\.0\\.1:${echoPort + 1}: tcp port ${echoPort + 1} is not in \\[core\\] allow-peers; to allow it, add it to \\[core\\] allow-peers`));
      await expectRefused(server, `tcp://127.0.0.1:${echoPort - 1}`, new RegExp(`tcp port ${echoPort - 1} is not in \\[core\\] allow-peers`));
      await expectRefused(server, `tcp://127.0.0.2:${echoPort}`, new RegExp(`tcp:127\\.0\\.0\\.2:${echoPort} is not in \\[core\\] allow-peers`));
      // Numeric spellings getaddrinfo would take for 127.0.0.1: malformed, never dialled.
      for (const host of ['2130706433', '0x7f000001', '0177.0.0.1', '127.1']) {
        await expectRefused(server, `tcp://${host}:${echoPort}`, new RegExp(`tcp:${escape(host)}:${echoPort}: \\\\"${escape(host)}\\\\" is a number but not an address`));
      }
      // A unix path that climbs out of the glob's folder, to a real socket.
      await expectRefused(server, `unix://${dir.path}/vnc/../other.sock`, /climbs with \.\./);
      await expectRefused(server, unixOther.address, new RegExp(`unix:${escape(dir.path)}/other\\.sock is not in`));
      await expectRefused(server, `unix-dgram://${dir.path}/vnc/ok.sock`, /is not in/);
      await expectRefused(server, `udp://[::1]:53`, /is not in/);
      assert.equal(dialled, 4, 'the refusals dialled nothing: the echo saw only the four allowed tcp clients');
    } finally {
      await server.stop();
    }
  });

  test('a name that resolves to a denied address is refused: localhost against 10.0.0.0/8', async () => {
    const server = await startWebsocksy([...LOCAL, '-P', dir.path, '-b', 'steered', '--allow-peers', 'tcp:10.0.0.0/8:*']);
    try {
      await expectRefused(server, `tcp://localhost:${echoPort}`, new RegExp(`tcp:localhost:${echoPort} resolves to [^"]*127\\.0\\.0\\.1[^"]*, which \\[core\\] allow-peers does not cover`));
      await expectRefused(server, `tcp://[::ffff:127.0.0.1]:${echoPort}`, /is not in \[core\] allow-peers/);
      await expectRefused(server, `tcp://0x7f000001:${echoPort}`, /is a number but not an address/);
      await assert.rejects(connect(`${server.url}/x`, undefined, { 'X-Peer': `tcp://no-such-host.invalid:${echoPort}` }), /HTTP 502/);
    } finally {
      await server.stop();
    }
  });

  test('a C plugin named like the builtin file backend cannot pass as it: its answers need allow-peers', async () => {
    const peersDir = `${dir.path}/peers-c`;
    mkdirSync(peersDir, { recursive: true });
    writeFileSync(`${peersDir}/fixed.txt`, `${echo.address} *\n`);
    const args = [...LOCAL, '-P', BUILT_PLUGINS, '-b', 'file', '-c', `path=${peersDir}`, '-c', 'expression=fixed.txt'];
    const refused = await startWebsocksy(args);
    try {
      assert.match(refused.log(), /backend plugin replaces the builtin backend=file/);
      await expectRefused(refused, null, /backend \\"file\\" chose tcp:\/\/127\.0\.0\.1:\d+, and plugin answers depend on the request/);
    } finally {
      await refused.stop();
    }
    const allowed = await startWebsocksy([...args, '--allow-peers', `tcp:127.0.0.1:${echoPort}`]);
    try {
      await expectEcho(allowed, null);
    } finally {
      await allowed.stop();
    }
  });
});

describe('the file backend: fixed expressions need no list, templated ones do', () => {
  const dir = tempDir('websocksy-allow-file-');
  let echo: Peer;
  before(async () => {
    echo = await tcpEcho();
    writeFileSync(`${dir.path}/fixed.txt`, `${echo.address} *\n`);
    writeFileSync(`${dir.path}/room.txt`, `${echo.address} *\n`);
  });
  after(async () => {
    await echo.close();
    dir.remove();
  });

  test('an expression without request values: the line is the config\'s own, allowed without allow-peers', async () => {
    const server = await startWebsocksy([...LOCAL, '-b', 'file', '-c', `path=${dir.path}`, '-c', 'expression=fixed.txt']);
    try {
      assert.doesNotMatch(server.log(), /allow-peers is not set/);
      await expectEcho(server, null, '/anything');
    } finally {
      await server.stop();
    }
  });

  test('a templated expression without allow-peers: 403 naming the fix; with it, the same line connects', async () => {
    const args = [...LOCAL, '-b', 'file', '-c', `path=${dir.path}`, '-c', 'expression=%endpoint%.txt'];
    const refused = await startWebsocksy(args);
    try {
      await refused.waitForLog(/allow-peers is not set: .* backend=file why="its expressions take request values"/);
      await assert.rejects(connect(`${refused.url}/room`), /HTTP 403/);
      await refused.waitForLog(new RegExp(`why="backend \\\\"file\\\\" chose ${escape(echo.address)}, and its expressions take request values; to allow it, add it to \\[core\\] allow-peers`));
    } finally {
      await refused.stop();
    }
    const allowed = await startWebsocksy([...args, '--allow-peers', 'tcp:127.0.0.1:*']);
    try {
      await expectEcho(allowed, null, '/room');
    } finally {
      await allowed.stop();
    }
  });
});

describe('routes: allow holds the upstream\'s resolved address', () => {
  const dir = tempDir('websocksy-allow-routes-');
  let upstream: Server;
  let httpPort: number;
  let wsUpstream: WebSocketServer;
  let wsPort: number;
  let echo: Peer & { server: import('node:net').Server };
  let tlsUpstream: Server;
  let httpsPort: number;
  let server: RunningWebsocksy;
  before(async () => {
    upstream = createServer((_req, res) => res.end('upstream answer'));
    upstream.listen(0, '127.0.0.1');
    await once(upstream, 'listening');
    httpPort = (upstream.address() as AddressInfo).port;
    const certificates = makeCertificates(dir.path);
    tlsUpstream = createHttpsServer({ cert: readFileSync(certificates.server.cert), key: readFileSync(certificates.server.key) }, (_req, res) => res.end('tls upstream answer'));
    tlsUpstream.listen(0, '127.0.0.1');
    await once(tlsUpstream, 'listening');
    httpsPort = (tlsUpstream.address() as AddressInfo).port;
    wsUpstream = new WebSocketServer({ port: 0, host: '127.0.0.1' });
    wsUpstream.on('connection', (socket) => socket.on('message', (data, binary) => socket.send(data, { binary })));
    await once(wsUpstream, 'listening');
    wsPort = (wsUpstream.address() as AddressInfo).port;
    echo = await tcpEcho();
    const echoPort = (echo.server.address() as AddressInfo).port;
    writeFileSync(
      `${dir.path}/routes.cfg`,
      [
        '[core]',
        'listen = 127.0.0.1',
        'port = 0',
        `[route /in]\nto = http://localhost:${httpPort}/\nallow = tcp:127.0.0.1:${httpPort}`,
        `[route /out]\nto = http://localhost:${httpPort}/\nallow = tcp:10.0.0.0/8:*`,
        `[route /plain]\nto = http://localhost:${httpPort}/`,
        `[route /tls-in]\nto = https://localhost:${httpsPort}/\nca = ${certificates.ca}\nallow = tcp:127.0.0.1:${httpsPort}`,
        `[route /tls-out]\nto = https://localhost:${httpsPort}/\nca = ${certificates.ca}\nallow = tcp:10.0.0.0/8:*`,
        `[route /ws-in]\nwebsocket = ws://localhost:${wsPort}/\nallow = tcp:127.0.0.0/8:${wsPort}`,
        `[route /ws-out]\nwebsocket = ws://localhost:${wsPort}/\nallow = tcp:10.0.0.0/8:*`,
        `[route /peer-in]\npeer = tcp://localhost:${echoPort}\nallow = tcp:127.0.0.1:${echoPort}`,
        `[route /peer-out]\npeer = tcp://localhost:${echoPort}\nallow = tcp:10.0.0.0/8:*`,
        `[route /peer-plain]\npeer = tcp://localhost:${echoPort}`,
        '',
      ].join('\n'),
    );
    server = await startWebsocksy([`${dir.path}/routes.cfg`]);
  });
  after(async () => {
    await server.stop();
    upstream.close();
    tlsUpstream.close();
    wsUpstream.close();
    await echo.close();
    dir.remove();
  });

  const get = (path: string): Promise<{ status: number; body: string }> => rawRequest(server.port, `GET ${path} HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n`);

  test('to: an upstream name resolving inside allow is served, outside it is 403 and logged; no allow, as configured', async () => {
    const inside = await get('/in/');
    assert.equal(inside.status, 200);
    assert.equal(inside.body, 'upstream answer');
    const outside = await get('/out/');
    assert.equal(outside.status, 403);
    assert.doesNotMatch(outside.body, /127\.0\.0\.1|10\.0\.0\.0/);
    await server.waitForLog(new RegExp(`http upstream refused .*route=/out .*status=403 why="tcp:localhost:${httpPort} resolves to [^"]*127\\.0\\.0\\.1[^"]*, which allow of \\[route /out\\] does not cover"`));
    assert.equal((await get('/plain/')).status, 200);
  });

  test('to = https://: the name is held to allow before the TLS handshake, as for http://', async () => {
    const inside = await get('/tls-in/');
    assert.equal(inside.status, 200);
    assert.equal(inside.body, 'tls upstream answer');
    const outside = await get('/tls-out/');
    assert.equal(outside.status, 403);
    await server.waitForLog(new RegExp(`http upstream refused .*route=/tls-out .*status=403 why="tcp:localhost:${httpsPort} resolves to [^"]*127\\.0\\.0\\.1[^"]*, which allow of \\[route /tls-out\\] does not cover"`));
  });

  test('curl sees the same: 200 inside allow, 403 with a neutral body outside', { skip: SKIP_WITHOUT_CURL }, async () => {
    const fetch = async (path: string): Promise<string> => (await curl(['--write-out', ' %{http_code}', `http://127.0.0.1:${server.port}${path}`], 5)).text;
    assert.equal(await fetch('/in/'), 'upstream answer 200');
    assert.match(await fetch('/out/'), /^Forbidden\n? 403$/);
  });

  test('websocket: the upstream\'s resolved address is checked before the 101', async () => {
    const client = await connect(`${server.url}/ws-in/`);
    client.ws.send('relayed');
    assert.equal((await client.next()).data.toString(), 'relayed');
    await closeClient(client);
    await assert.rejects(connect(`${server.url}/ws-out/`), /HTTP 403/);
    await server.waitForLog(/websocket upstream refused .*route=\/ws-out .*status=403 why=".*resolves to [^"]*127\.0\.0\.1/);
  });

  test('peer: the route\'s own peer, held to its allow when it has one', async () => {
    await expectEcho(server, null, '/peer-in');
    await expectEcho(server, null, '/peer-plain');
    await assert.rejects(connect(`${server.url}/peer-out`), /HTTP 403/);
    await server.waitForLog(/refused .*endpoint=\/peer-out status="403 Forbidden" why="backend \\"route \/peer-out\\" chose tcp:\/\/localhost:\d+: tcp:localhost:\d+ resolves to [^"]*, which allow of \[route \/peer-out\] does not cover; to allow it, add it to allow of \[route \/peer-out\]/);
  });

  test('configuration errors: a fixed upstream outside its own allow, allow where nothing is dialled, allow through a tunnel, non-tcp rules for a URL', async () => {
    const cases: Array<[string, RegExp]> = [
      [`[route /a]\nto = http://127.0.0.1:${httpPort}/\nallow = tcp:10.0.0.0/8:*\n`, /bad\.cfg:4 \[route \/a\]: allow: the route's own upstream is not in it/],
      [`[route /a]\nto = http://2130706433:${httpPort}/\nallow = tcp:10.0.0.0/8:*\n`, /allow: the route's own upstream is not in it/],
      [`[route /a]\npeer = unix:///run/x/../y.sock\nallow = unix:/run/x/*\n`, /allow: the route's own upstream is not in it/],
      [`[route /a]\nstatic = ${dir.path}\nallow = tcp:*:*\n`, /allow: only a route with to, websocket or peer sets it/],
      [`[upstream hub]\nurl = ws://127.0.0.1:1/.t\nname = me\ntoken = t\n[route /a]\nto = http://h/\nvia = hub\nallow = tcp:*:*\n`, /allow: a route through a tunnel is dialled by the far side/],
      [`[route /a]\nwebsocket = ws://h/\nallow = udp:*:*\n`, /allow: a websocket route reaches its upstream over tcp/],
      [`[route /a]\nto = http://h/\nallow = tcp:h\n`, /allow: rule "tcp:h": "h" is not host:ports/],
    ];
    for (const [section, why] of cases) {
      writeFileSync(`${dir.path}/bad.cfg`, `port = 0\n${section}`);
      const result = await runWebsocksy([`${dir.path}/bad.cfg`]);
      assert.equal(result.code, 1, section);
      assert.match(result.stderr, why, section);
    }
    writeFileSync(`${dir.path}/bad.cfg`, 'port = 0\nallow-peers = tcp:0x7f000001:*\n');
    assert.match((await runWebsocksy([`${dir.path}/bad.cfg`])).stderr, /bad\.cfg:2 \[core\]: allow-peers: rule "tcp:0x7f000001:\*": "0x7f000001" is a number but not an address/);
  });
});

describe('tunnel destinations: connect= in the same grammar', () => {
  const dir = tempDir('websocksy-allow-tunnel-');
  const TOKEN = 'allow-token';
  let far: Peer & { server: import('node:net').Server };
  let farPort: number;
  let server: RunningWebsocksy;
  before(async () => {
    far = await streamServer((socket) => socket.end('far side\n'));
    farPort = (far.server.address() as AddressInfo).port;
    server = await startTunnelServer(
      dir.path,
      [
        `alice ${TOKEN} connect=tcp:10.0.0.0/8:*,tcp:127.0.0.1:${farPort}`,
        `bob ${TOKEN} connect=10.0.0.0/8:1-65535`,
        `carol ${TOKEN} connect=tcp:localhost:${farPort}`,
        '',
      ].join('\n'),
    );
  });
  after(async () => {
    await server.stop();
    await far.close();
    dir.remove();
  });

  async function through(identity: string, host: string, port: number): Promise<string> {
    const client = await startForward(['-L', `0:${host}:${port}`, `ws://${identity}@127.0.0.1:${server.port}/.tunnel`, '--token', TOKEN]);
    try {
      // A refused stream may be reset before the connect is even reported: nothing here awaits it.
      const socket = connectTcp({ host: '127.0.0.1', port: client.ports[0] as number });
      let got = '';
      socket.on('data', (chunk: Buffer) => (got += chunk.toString()));
      socket.on('error', () => undefined);
      // Not events.once: it would reject on the reset, which is an answer here.
      await new Promise((resolve) => socket.on('close', resolve));
      return got;
    } finally {
      await client.stop();
    }
  }

  test('an address inside connect= is dialled; a name is dialled at the address it was checked on', { timeout: 30_000 }, async () => {
    assert.equal(await through('alice', '127.0.0.1', farPort), 'far side\n');
    assert.equal(await through('alice', 'localhost', farPort), 'far side\n');
    assert.equal(await through('carol', 'localhost', farPort), 'far side\n', 'a name rule');
  });

  test('outside connect=: the stream is reset with the reason, on a port edge, a resolved name, a numeric spelling', { timeout: 30_000 }, async () => {
    assert.equal(await through('carol', 'localhost', farPort + 1), '');
    await server.waitForLog(new RegExp(`stream refused identity=carol .*target=localhost:${farPort + 1} why="tcp port ${farPort + 1} is not in this identity's connect allow-list"`));
    assert.equal(await through('alice', '127.0.0.1', farPort + 1), '');
    await server.waitForLog(new RegExp(`stream refused identity=alice .*target=127\\.0\\.0\\.1:${farPort + 1} why="tcp:127\\.0\\.0\\.1:${farPort + 1} is not in this identity's connect allow-list"`));
    assert.equal(await through('bob', 'localhost', farPort), '');
    await server.waitForLog(new RegExp(`stream refused identity=bob .*target=localhost:${farPort} why="tcp:localhost:${farPort} resolves to [^"]*127\\.0\\.0\\.1[^"]*, which this identity's connect allow-list does not cover"`));
    assert.equal(await through('alice', '2130706433', farPort), '');
    await server.waitForLog(/stream refused identity=alice .*target=2130706433:\d+ why="tcp:2130706433:\d+: \\"2130706433\\" is a number but not an address/);
    assert.equal(await through('carol', '127.0.0.1', farPort), '', 'a name rule does not cover the address it resolves to');
  });

  test('connect= refuses udp and unix rules: tunnel streams are tcp', async () => {
    writeFileSync(`${dir.path}/bad-ids`, `dave ${TOKEN} connect=udp:127.0.0.1:53\n`);
    writeFileSync(`${dir.path}/bad.cfg`, `port = 0\n[tunnel]\nidentities = bad-ids\n`);
    assert.match((await runWebsocksy([`${dir.path}/bad.cfg`])).stderr, /bad-ids:1: connect of identity "dave": rule "udp:127\.0\.0\.1:53": tunnel streams are tcp/);
  });
});
