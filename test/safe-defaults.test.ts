/*
 * Nothing open that the config did not ask for: a config of routes and tunnels runs no bridge;
 * the status needs a token or a loopback listener of its own; west's own sample configs, which
 * never authenticated, run unchanged in protected mode — name-only tunnel clients from this
 * host only, anyone else refused with the fix named.
 */
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { networkInterfaces } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import WebSocket from 'ws';
import { echoOf, send, startUpstream, type Upstream } from './helpers/http-upstream.js';
import { freePort } from './helpers/instances.js';
import { tcpEcho, tempDir } from './helpers/peers.js';
import { IN_CI } from './helpers/tools.js';
import { ROOT, runWebsocksy, startWebsocksy, type RunningWebsocksy } from './helpers/websocksy.js';

const dir = tempDir('websocksy-safe-defaults-');
after(() => dir.remove());

/** The status code of an upgrade on `url` (101 when it opened). */
async function upgradeStatus(url: string): Promise<number> {
  const ws = new WebSocket(url);
  return new Promise((resolve, reject) => {
    ws.once('open', () => {
      ws.terminate();
      resolve(101);
    });
    ws.once('unexpected-response', (_request, response) => {
      resolve(response.statusCode ?? 0);
      ws.terminate();
    });
    ws.once('error', reject);
  });
}

/** A local address that is not loopback, for a client this host sees as another host. */
function otherHostAddress(): string | undefined {
  for (const entries of Object.values(networkInterfaces())) {
    const found = entries?.find((entry) => entry.family === 'IPv4' && !entry.internal);
    if (found !== undefined) return found.address;
  }
  return undefined;
}
const OTHER_HOST = otherHostAddress();
const NEEDS_OTHER_HOST = OTHER_HOST === undefined ? (IN_CI ? false : 'this machine has no non-loopback IPv4 address') : false;
if (IN_CI && OTHER_HOST === undefined) throw new Error('CI: this machine needs a non-loopback IPv4 address for the protected-mode tests');

async function start(name: string, text: string, env: NodeJS.ProcessEnv = {}): Promise<RunningWebsocksy> {
  const file = join(dir.path, name);
  writeFileSync(file, text);
  // The main listener's line, not the status listener's, which comes first.
  return startWebsocksy([file], { env, readyPattern: /listening address=\S+ port=(\d+)/ });
}

describe('the bridge runs only when asked for', () => {
  test('a config of routes and a tunnel runs no bridge: other paths get 404, and the log says bridge=off', async () => {
    writeFileSync(join(dir.path, 'ids'), 'a secret-a\n');
    const server = await start('routes.cfg', '[core]\nlisten = 127.0.0.1\nport = 0\n[tunnel]\nidentities = ids\n[route /files]\nstatic = .\n');
    try {
      assert.match(server.log(), /listening address=127\.0\.0\.1 port=\d+ bridge=off/);
      assert.equal(await upgradeStatus(`${server.url}/anything`), 404);
      assert.equal((await fetch(`http://127.0.0.1:${server.port}/anything`)).status, 404);
      assert.equal((await fetch(`http://127.0.0.1:${server.port}/files/ids`)).status, 200);
    } finally {
      await server.stop();
    }
  });

  test('a backend option, a backend, a plain websocksy config or no config at all run the bridge', async () => {
    const echo = await tcpEcho();
    try {
      const configs = [
        `[core]\nlisten = 127.0.0.1\nport = 0\n[route /files]\nstatic = .\n[backend]\nhost = ${echo.address}\n`,
        `[core]\nlisten = 127.0.0.1\nport = 0\nbackend = defaultpeer\n[route /files]\nstatic = .\n`,
        '[core]\nlisten = 127.0.0.1\nport = 0\n',
      ];
      for (const [index, text] of configs.entries()) {
        const server = await start(`bridge-${index}.cfg`, text);
        try {
          assert.match(server.log(), /listening address=127\.0\.0\.1 port=\d+ backend=defaultpeer/, text);
        } finally {
          await server.stop();
        }
      }
      const bare = await startWebsocksy(['-l', '127.0.0.1', '-p', '0', '-c', `host=${echo.address}`]);
      try {
        assert.equal(await upgradeStatus(`${bare.url}/x`), 101);
      } finally {
        await bare.stop();
      }
    } finally {
      await echo.close();
    }
  });
});

describe('the status needs a token or a loopback listener of its own', () => {
  test('on the main listener: 401 with WWW-Authenticate without the token or with a wrong one, the JSON with it', async () => {
    writeFileSync(join(dir.path, 'status-token'), 'the-status-token\n');
    const server = await start('status-token.cfg', '[core]\nlisten = 127.0.0.1\nport = 0\n[status]\npath = /.status\ntoken-file = status-token\n');
    try {
      const url = `http://127.0.0.1:${server.port}/.status`;
      const none = await fetch(url);
      assert.equal(none.status, 401);
      assert.equal(none.headers.get('www-authenticate'), 'Bearer realm="websocksy status"');
      assert.equal(await none.text(), 'Unauthorized\n');
      assert.equal((await fetch(url, { headers: { Authorization: 'Bearer wrong' } })).status, 401);
      const right = await fetch(url, { headers: { Authorization: 'Bearer the-status-token' } });
      assert.equal(right.status, 200);
      assert.ok('connections' in ((await right.json()) as object));
      await server.waitForLog(/refused .*status="401 Unauthorized" why="status read with a wrong token"/);
      assert.doesNotMatch(server.log(), /the-status-token/);
    } finally {
      await server.stop();
    }
  });

  test('the token from the environment (token-env); a variable that is not set is a start-up error', async () => {
    const config = '[core]\nlisten = 127.0.0.1\nport = 0\n[status]\npath = /.status\ntoken-env = STATUS_TOKEN_FOR_TEST\n';
    const server = await start('status-env.cfg', config, { STATUS_TOKEN_FOR_TEST: 'from-env' });
    try {
      assert.equal((await fetch(`http://127.0.0.1:${server.port}/.status`, { headers: { Authorization: 'Bearer from-env' } })).status, 200);
    } finally {
      await server.stop();
    }
    const { code, stderr } = await runWebsocksy([join(dir.path, 'status-env.cfg')], ROOT, { STATUS_TOKEN_FOR_TEST: '' });
    assert.equal(code, 1);
    assert.match(stderr, /status-env\.cfg:6 \[status\]: token-env: the environment variable STATUS_TOKEN_FOR_TEST is not set or empty/);
  });

  test('without a token it is a start-up error naming both ways out, unless it has a loopback listener of its own', async () => {
    writeFileSync(join(dir.path, 'open-status.cfg'), '[core]\nlisten = 127.0.0.1\nport = 0\n[status]\npath = /.status\n');
    const open = await runWebsocksy([join(dir.path, 'open-status.cfg')]);
    assert.equal(open.code, 1);
    assert.match(open.stderr, /open-status\.cfg:4 \[status\]: \[status\] shows identities and client addresses, so it needs a token \(token-file = FILE or token-env = VARIABLE; .*\) or a listener of its own on a loopback address \(listen = 127\.0\.0\.1 and port = PORT\)/);
    writeFileSync(join(dir.path, 'public-status.cfg'), '[core]\nlisten = 127.0.0.1\nport = 0\n[status]\npath = /.status\nlisten = 0.0.0.0\nport = 0\n');
    assert.equal((await runWebsocksy([join(dir.path, 'public-status.cfg')])).code, 1);
    const port = await freePort();
    const server = await start('loopback-status.cfg', `[core]\nlisten = 127.0.0.1\nport = 0\n[status]\npath = /.status\nlisten = 127.0.0.1\nport = ${port}\n`);
    try {
      await server.waitForLog(new RegExp(`listening for status address=127\\.0\\.0\\.1 port=${port}`));
      assert.equal((await fetch(`http://127.0.0.1:${port}/`)).status, 200);
      // The main listener (no bridge: the config has a [status] section only) does not serve it.
      assert.equal((await fetch(`http://127.0.0.1:${server.port}/.status`)).status, 404);
    } finally {
      await server.stop();
    }
  });

  test('clients = loopback answers this host and refuses another with 403', { skip: NEEDS_OTHER_HOST }, async () => {
    const server = await start('status-loopback-clients.cfg', '[core]\nlisten = 0.0.0.0\nport = 0\n[status]\npath = /.status\nclients = loopback\n');
    try {
      assert.match(server.log(), /warn +status without a token: served to clients on this host only/);
      assert.equal((await fetch(`http://127.0.0.1:${server.port}/.status`)).status, 200);
      const other = await fetch(`http://${OTHER_HOST}:${server.port}/.status`);
      assert.equal(other.status, 403);
      assert.equal(await other.text(), 'Forbidden: the status is served to this host only\n');
    } finally {
      await server.stop();
    }
  });
});

describe("west's own sample configs run unchanged, in protected mode", () => {
  let upstream: Upstream;
  const running: RunningWebsocksy[] = [];
  const SAMPLES = join(ROOT, 'examples/west/original');

  before(async () => {
    upstream = await startUpstream();
  });
  after(async () => {
    for (const instance of running.reverse()) await instance.stop();
    await upstream.close();
  });

  /** Runs a sample with its fixed ports made free (and its HTTP servers the test's upstream); all else as written. */
  async function sample(name: string, ports: Map<string, number>, tunnels = 0): Promise<RunningWebsocksy> {
    const text = readFileSync(join(SAMPLES, name), 'utf8').replace(/127\.0\.0\.1:(9\d{3})/g, (_match, port: string) => `127.0.0.1:${ports.get(port) ?? port}`);
    writeFileSync(join(dir.path, name), text);
    const instance = await startWebsocksy([join(dir.path, name)]);
    running.push(instance);
    if (tunnels > 0) await instance.waitForLog(/tunnel up/);
    return instance;
  }

  async function freePorts(...fixed: string[]): Promise<Map<string, number>> {
    const ports = new Map<string, number>();
    for (const port of fixed) ports.set(port, await freePort());
    return ports;
  }

  test('case 1: a client beside L reaches the server beside G; G warns once that it is in protected mode', async () => {
    const ports = await freePorts('9701', '9702', '9801', '9911');
    ports.set('9921', upstream.port);
    const g = await sample('case1-G.json', ports);
    await sample('case1-L.json', ports, 1);
    const reply = await send(ports.get('9911') as number, '/px/page?q=1');
    assert.equal(reply.status, 200);
    assert.match(echoOf(reply).url, /^\/x\/page\?q=1$/);
    assert.equal(g.log().match(/tunnel server in protected mode/g)?.length, 1, g.log());
    assert.match(g.log(), /tunnel open .*identity=ws:\/\/case1\.L\.fiap\.org/);
    // cp, on a loopback listener of its own, answers without a token.
    assert.equal((await fetch(`http://127.0.0.1:${ports.get('9701')}/`)).status, 200);
  });

  test('case 2: a client beside G reaches the server behind L, through the client L named itself', async () => {
    const ports = await freePorts('9701', '9702', '9801', '9931');
    ports.set('9941', upstream.port);
    await sample('case2-G.json', ports);
    await sample('case2-L.json', ports, 1);
    const reply = await send(ports.get('9931') as number, '/pa/item', { method: 'DELETE' });
    assert.equal(reply.status, 200);
    assert.deepEqual([echoOf(reply).method, echoOf(reply).url], ['DELETE', '/a/item']);
  });

  test('a west client on another host is refused, and both sides say what to add', { skip: NEEDS_OTHER_HOST }, async () => {
    const port = await freePort();
    const gFile = join(dir.path, 'remote-G.json');
    writeFileSync(gFile, JSON.stringify({ west: { nm: 'ws://G' }, wsts: { sp: `ws://0.0.0.0:${port}` } }));
    const g = await startWebsocksy([gFile]);
    running.push(g);
    const lFile = join(dir.path, 'remote-L.json');
    writeFileSync(lFile, JSON.stringify({ west: { nm: 'ws://L' }, wstc: { [`ws://${OTHER_HOST}:${port}`]: {} } }));
    const l = await startWebsocksy([lFile]);
    running.push(l);
    const fix = /this tunnel server has no identities file, so it accepts tunnel clients from its own host only; to let other hosts in, its operator adds identities = FILE to \[tunnel\] \(wsts\.identities in a west config\)/;
    await g.waitForLog(new RegExp(`tunnel refused .*client=${OTHER_HOST?.replace(/\./g, '\\.')} identity=ws://L why="${fix.source}`));
    await l.waitForLog(new RegExp(`tunnel refused .*why="${fix.source}`));
  });
});

test('[core] auth on a config that runs no bridge is a start-up error naming the way out', async () => {
  writeFileSync(join(dir.path, 'tokens'), 'a-token-of-sixteen-chars\n');
  writeFileSync(join(dir.path, 'auth-no-bridge.cfg'), '[core]\nlisten = 127.0.0.1\nport = 0\nauth = staff\n[auth staff]\ntype = bearer\ntokens = tokens\n[route /files]\nstatic = .\n');
  const { code, stderr } = await runWebsocksy([join(dir.path, 'auth-no-bridge.cfg')]);
  assert.equal(code, 1);
  assert.match(stderr, /auth-no-bridge\.cfg:4 \[core\]: auth guards the bridge, and this config runs none \(it names no backend\): give the bridge a backend/);
});

test('a second websocksy on a port one already serves is refused, rather than splitting its connections', async () => {
  const first = await startWebsocksy(['-l', '127.0.0.1', '-p', '0']);
  try {
    const second = await runWebsocksy(['-l', '127.0.0.1', '-p', String(first.port)]);
    assert.equal(second.code, 1);
    assert.match(second.stderr, new RegExp(`cannot listen on 127\\.0\\.0\\.1 port ${first.port}: EADDRINUSE \\(another program, or another websocksy, listens there\\)`));
  } finally {
    await first.stop();
  }
});
