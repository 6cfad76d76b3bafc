/*
 * Every configuration error names the flag, or the file, line and key; exits non-zero; and
 * websocksy never starts listening.
 */
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { after, describe, test } from 'node:test';
import { tempDir } from './helpers/peers.js';
import { runWebsocksy, startWebsocksy } from './helpers/websocksy.js';

const dir = tempDir();
after(() => dir.remove());

function configFile(name: string, text: string): string {
  const path = `${dir.path}/${name}`;
  writeFileSync(path, text);
  return path;
}

async function assertRefused(args: readonly string[], message: RegExp, exitCode = 1): Promise<void> {
  const { code, stderr } = await runWebsocksy(args);
  assert.equal(code, exitCode, `exit code for ${args.join(' ')}; stderr: ${stderr}`);
  assert.match(stderr, message);
  assert.doesNotMatch(stderr, /listening/);
}

describe('command line errors', () => {
  test('unknown flag', () => assertRefused(['-x', '1'], /Unknown option '-x'/, 2));
  test('flag without its value', () => assertRefused(['-p'], /-p/, 2));
  test('bad port', () => assertRefused(['-p', 'http'], /command line -p http: port: "http" is not a port/));
  test('port out of range', () => assertRefused(['-p', '70000'], /-p 70000: port: .*0 to 65535/));
  test('bad ping', () => assertRefused(['-k', '-1'], /-k/, 2));
  test('bad size', () => assertRefused(['--peer-buffer', 'lots'], /--peer-buffer lots: peer-buffer: "lots" is not a size/));
  test('-c without =', () => assertRefused(['-c', 'host'], /-c: expected key=value, found "host"/, 2));
  test('two config files', () => assertRefused(['a.cfg', 'b.cfg'], /at most one config file/, 2));
  test('unknown backend', () => assertRefused(['-b', 'nosuch'], /command line -b nosuch: backend "nosuch": unknown backend/));
  test('a backend that rejects a key names the flag and key', () =>
    assertRefused(['-c', 'colour=blue'], /command line -c colour=blue: backend "defaultpeer" rejected colour = blue/));
  test('unknown framing is a start-up error, not a silent auto', () =>
    assertRefused(['-c', 'framing=nosuch'], /framing=nosuch: backend "defaultpeer" rejected framing = nosuch/));
  test('a framing that needs a config fails at start-up without one', () =>
    assertRefused(['-c', 'framing=separator'], /separator/));
  test('-c goes to the backend loaded at that moment', () =>
    assertRefused(['-c', 'host=tcp://127.0.0.1:1', '-b', 'file', '-c', 'host=x'], /-c host=x: backend "file" rejected host = x/));
});

describe('config file errors', () => {
  test('missing file', () => assertRefused([`${dir.path}/missing.cfg`], /cannot read config file .*missing\.cfg: ENOENT/));

  test('unknown section names file and line', () =>
    assertRefused([configFile('section.cfg', '[core]\nport = 1\n\n[cores]\n')], /section\.cfg:4: unknown section \[cores\]/));

  test('a line without = names file and line', () =>
    assertRefused([configFile('noequals.cfg', '[core]\nport 8001\n')], /noequals\.cfg:2 \[core\]: expected "key = value"/));

  test('unknown core key names file, line and key', () =>
    assertRefused([configFile('corekey.cfg', '[core]\nport = 0\nprot = 1\n')], /corekey\.cfg:3 \[core\]: unknown core option "prot"/));

  test('bad core value names file, line and key', () =>
    assertRefused([configFile('ping.cfg', '; comment\n[core]\nping = soon\n')], /ping\.cfg:3 \[core\]: ping: "soon" is not a number of seconds/));

  test('a backend that rejects a line names file, line and key', () =>
    assertRefused(
      [configFile('backend.cfg', '[core]\nbackend = file\n[backend]\npath = /tmp\ncolour = blue\n')],
      /backend\.cfg:5 \[backend\]: backend "file" rejected colour = blue/,
    ));

  test('a backend whose whole config is incomplete says so', () =>
    assertRefused([configFile('incomplete.cfg', '[core]\nbackend = file\n')], /backend "file": .*path/));
});

describe('help and version', () => {
  test('-h prints usage and exits 0', async () => {
    const { code, stdout } = await runWebsocksy(['-h']);
    assert.equal(code, 0);
    assert.match(stdout, /usage: websocksy/);
    for (const flag of ['-p', '-l', '-k', '-b', '-c', '--frame-limit', '--peer-buffer', '--client-buffer']) {
      assert.ok(stdout.includes(flag), `help mentions ${flag}`);
    }
  });

  test('--version prints the version', async () => {
    const { code, stdout } = await runWebsocksy(['--version']);
    assert.equal(code, 0);
    assert.match(stdout, /^websocksy \d+\.\d+\.\d+/);
  });
});

describe('a good config file', () => {
  test('comments, quotes and flags after the file all apply, in order', async () => {
    const path = configFile(
      'good.cfg',
      '; websocksy\n# also a comment\n[core]\nport = 1\nlisten = 127.0.0.1 ; inline comment\n[backend]\nhost = "tcp://127.0.0.1:9"\n',
    );
    const server = await startWebsocksy([path, '-p', '0']);
    try {
      assert.ok(server.port > 1);
      assert.match(server.log(), /listening address=127\.0\.0\.1 port=\d+ backend=defaultpeer/);
    } finally {
      await server.stop();
    }
  });
});
