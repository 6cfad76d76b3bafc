/*
 * `websocksy --check FILE`: the configuration read and everything it names loaded, without
 * listening; exit 0 when it would start, 1 with every error (file, line, section, key), one per
 * line, in the file's order.
 */
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { once } from 'node:events';
import { after, describe, test } from 'node:test';
import { tempDir } from './helpers/peers.js';
import { ROOT, runWebsocksy } from './helpers/websocksy.js';

const dir = tempDir('websocksy-check-');
after(() => dir.remove());

function write(name: string, lines: readonly string[]): string {
  const file = `${dir.path}/${name}`;
  writeFileSync(file, lines.join('\n') + '\n');
  return file;
}

describe('websocksy --check', () => {
  test('a valid config: exit 0 and a line that says so, without taking its port', async () => {
    // The port is held by someone else: a check that listened would fail.
    const holder = createServer().listen(0, '127.0.0.1');
    await once(holder, 'listening');
    const port = (holder.address() as { port: number }).port;
    try {
      const file = write('good.cfg', ['[core]', 'listen = 127.0.0.1', `port = ${port}`, '[backend]', 'host = tcp://127.0.0.1:5900']);
      const result = await runWebsocksy(['--check', file]);
      assert.equal(result.code, 0, result.stderr);
      assert.equal(result.stdout, `${file}: the configuration is valid\n`);
      assert.doesNotMatch(result.stderr, /listening/);
    } finally {
      holder.close();
    }
  });

  test("the shipped websocksy.cfg and a west JSON example pass", async () => {
    for (const file of [`${ROOT}websocksy.cfg`, `${ROOT}examples/west/case1-G.json`]) {
      const result = await runWebsocksy(['--check', file]);
      assert.equal(result.code, 0, `${file}: ${result.stderr}`);
    }
  });

  test('every error of a broken config, one line each with its file and line, in the file\'s order, then the flags', async () => {
    const file = write('broken.cfg', [
      '[core]',
      'port = 99999',
      'ping = abc',
      'bogus = 1',
      '[nonsense]',
      'x = 1',
      '[backend]',
      'host = tcp://127.0.0.1:5900',
      '[route /a]',
      'to = ftp://example.com/',
      '[tunnel]',
      'identities = missing-identities',
      '[tls]',
      'cert = missing-cert.pem',
      'key = missing-key.pem',
      'this line has no equals sign',
    ]);
    const result = await runWebsocksy(['--check', file, '--idle-timeout', 'soon']);
    assert.equal(result.code, 1);
    assert.equal(result.stdout, '');
    const errors = result.stderr.split('\n').filter((line) => line.startsWith('websocksy: '));
    const where = errors.map((line) => /^websocksy: (\S+?)(?::(\d+))?[ :]/.exec(line)?.[2] ?? 'flag');
    assert.deepEqual(where, ['2', '3', '4', '5', '10', '12', '13', '16', 'flag'], errors.join('\n'));
    assert.match(errors[0] ?? '', /broken\.cfg:2 \[core\]: port: "99999" is not a port/);
    assert.match(errors[2] ?? '', /unknown core option "bogus"/);
    assert.match(errors[3] ?? '', /unknown section \[nonsense\]/);
    assert.match(errors[5] ?? '', /\[tunnel\]: identities: .*missing-identities: cannot read identities file: ENOENT/);
    assert.match(errors[7] ?? '', /expected "key = value", found "this line has no equals sign"/);
    assert.match(errors[8] ?? '', /command line --idle-timeout soon: idle-timeout:/);
  });

  test('what the config names is loaded: a backend path that is not a folder, a missing route module', async () => {
    writeFileSync(`${dir.path}/peers`, 'a file, where the file backend wants a folder of peer files\n');
    const file = write('loads.cfg', ['[core]', 'backend = file', '[backend]', 'path = peers', '[route /m]', 'module = no-such-module.mjs']);
    const result = await runWebsocksy(['--check', file]);
    assert.equal(result.code, 1, result.stdout);
    const errors = result.stderr.split('\n').filter((line) => line.startsWith('websocksy: '));
    assert.equal(errors.length, 2, errors.join('\n'));
    assert.match(errors[0] ?? '', /loads\.cfg:4 \[backend\]: backend "file" rejected path = peers: .*peers is not a directory/);
    assert.match(errors[1] ?? '', /loads\.cfg:6 \[route \/m\]: module: cannot use module .*no-such-module\.mjs: ENOENT/);
  });

  test("every key --help lists for a section is one that section takes (never an unknown key)", async () => {
    const help = (await runWebsocksy(['--help'])).stdout;
    const rows = help.slice(help.indexOf('Config file sections and their keys:')).split('\n').slice(1).filter((line) => line.startsWith('  ['));
    const lines: string[] = [];
    let sections = 0;
    for (const row of rows) {
      const match = /^ {2}(\[(tunnel|upstream NAME|route \/PREFIX|status|tls)\](?:, \[tls SERVER-NAME\])?|\[auth NAME\] type = (\w+))\s{2,}(.*)$/.exec(row);
      if (match === null) continue;
      sections++;
      const header = match[3] !== undefined ? `[auth a${sections}]` : `[${(match[2] as string).replace('NAME', `u${sections}`).replace('/PREFIX', `/p${sections}`)}]`;
      lines.push(header, ...(match[3] !== undefined ? [`type = ${match[3]}`] : []));
      for (const key of (match[4] as string).split(', ').filter((key) => key !== 'type')) lines.push(`${key} = x`);
    }
    assert.equal(sections, 9, help);
    const result = await runWebsocksy(['--check', write('every-key.cfg', lines)]);
    assert.equal(result.code, 1);
    assert.doesNotMatch(result.stderr, /unknown key/);
  });

  test('a west JSON file that is not JSON: exit 1 naming the file', async () => {
    const file = write('west.json', ['{ "pl": [ }']);
    const result = await runWebsocksy(['--check', file]);
    assert.equal(result.code, 1);
    assert.match(result.stderr, /^websocksy: .*west\.json:1: not JSON/m);
  });
});
