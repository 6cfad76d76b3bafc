/*
 * west's own JSON configuration: `websocksy west.json` runs each of west's four topologies
 * (the same cases as test/http-topologies.test.ts, from west-style configs), `cp` answers with
 * the status, and bad configs fail naming the file, line and key.
 */
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';
import { echoOf, send, startUpstream, type Upstream } from './helpers/http-upstream.js';
import { freePort } from './helpers/instances.js';
import { tempDir } from './helpers/peers.js';
import { runWebsocksy, startWebsocksy, type RunningWebsocksy } from './helpers/websocksy.js';

describe('west JSON configs', () => {
  const dir = tempDir('websocksy-west-');
  let server: Upstream;
  const running: RunningWebsocksy[] = [];
  const ports: Record<string, number> = {};

  async function west(name: string, config: object, tunnels = 0): Promise<RunningWebsocksy> {
    writeFileSync(`${dir.path}/${name}.json`, JSON.stringify(config, null, 2));
    const instance = await startWebsocksy([`${dir.path}/${name}.json`]);
    running.push(instance);
    if (tunnels > 0) await instance.waitForLog(new RegExp(`(tunnel up[^]*){${tunnels}}`));
    return instance;
  }

  before(async () => {
    server = await startUpstream();
    for (const name of ['g', 'gCp', 'gL', 'gL2', 'gM', 'l', 'm', 'mN']) ports[name] = await freePort();
    const p = (name: string): number => ports[name] as number;
    const up = `http://127.0.0.1:${server.port}`;
    const hub = `ws://127.0.0.1:${p('g')}`;
    writeFileSync(`${dir.path}/g.identities`, `l tok-l connect=127.0.0.1:${server.port},127.0.0.1:${p('gL2')}\nl2 tok-l2\nm tok-m\n`);
    writeFileSync(`${dir.path}/m.identities`, 'n tok-n\n');
    await west('g', {
      west: { nm: 'ws://G', cp: `127.0.0.1:${p('gCp')}` },
      wsts: { sp: hub, identities: `${dir.path}/g.identities` },
      proxy: {
        [`http://127.0.0.1:${p('gL')}`]: { en: 'l', '/c2': { ou: `${up}/` } },
        [`127.0.0.1:${p('gL2')}`]: { en: 'l2', '/l2': { ou: `${up}/` } },
        [`127.0.0.1:${p('gM')}`]: { en: 'm', '/c4': { ou: `http://127.0.0.1:${p('mN')}/n` } },
      },
    });
    await west('l', {
      west: { nm: 'l' },
      wstc: { [hub]: { ee: 'yes', token: 'tok-l', accept: [`127.0.0.1:${server.port}`] } },
      proxy: { [`http://127.0.0.1:${p('l')}`]: { ea: hub, '/c1': { ou: `${up}/` }, '/c3': { ou: `http://127.0.0.1:${p('gL2')}/l2` } } },
    }, 1);
    await west('l2', { west: { nm: 'l2' }, wstc: { [hub]: { token: 'tok-l2', accept: [`127.0.0.1:${server.port}`] } } }, 1);
    const middle = `ws://127.0.0.1:${p('m')}`;
    await west('m', {
      west: { nm: 'm' },
      wsts: { sp: middle, identities: `${dir.path}/m.identities` },
      wstc: { [hub]: { token: 'tok-m', accept: [`127.0.0.1:${p('mN')}`] } },
      proxy: { [`127.0.0.1:${p('mN')}`]: { en: 'n', '/n': { ou: `${up}/` } } },
    }, 1);
    await west('n', { west: { nm: 'n' }, wstc: { [middle]: { token: 'tok-n', accept: [`127.0.0.1:${server.port}`] } } }, 1);
  });

  after(async () => {
    for (const instance of running.reverse()) await instance.stop();
    await server.close();
    dir.remove();
  });

  async function check(port: number, prefix: string): Promise<void> {
    const get = await send(port, `${prefix}/page?x=1`);
    assert.equal(get.status, 200, prefix);
    assert.match(echoOf(get).url, /\/page\?x=1$/);
    const post = echoOf(await send(port, `${prefix}/form`, { method: 'POST', body: 100_000 }));
    assert.deepEqual([post.method, post.bytes], ['POST', 100_000]);
    const del = echoOf(await send(port, `${prefix}/item`, { method: 'DELETE' }));
    assert.equal(del.method, 'DELETE');
  }

  test('case 1: L reaches a server beside G (ea)', async () => check(ports['l'] as number, '/c1'));
  test('case 2: G reaches a server behind L (en), on a proxy port of its own', async () => check(ports['gL'] as number, '/c2'));
  test('case 3: L reaches a server behind L2 through G', async () => check(ports['l'] as number, '/c3'));
  test('case 4: G reaches a server behind N through M', async () => check(ports['gM'] as number, '/c4'));

  test('cp answers any GET with the status JSON', async () => {
    const reply = await send(ports['gCp'] as number, '/anything');
    assert.equal(reply.status, 200);
    const status = JSON.parse(reply.text) as { server: { sessions: Array<{ identity: string }> } };
    assert.deepEqual(status.server.sessions.map((session) => session.identity).sort(), ['l', 'l2', 'm']);
  });

  test('bad configs name the file, line and key', async () => {
    const cases: Array<[object, RegExp]> = [
      [{ west: { nm: 'x' }, extra: {} }, /bad\.json:\d+ \[top\]: extra: unknown object \(known: west, wsts, wstc, proxy\)/],
      [{ west: {} }, /bad\.json:\d+ \[west\]: west\["nm"\]: missing \(required\)/],
      [{ west: { nm: 'x' }, wstc: { 'ws://h:1': { token: 't' } }, proxy: { ':1': { ea: 'ws://h:1', '/p': {} } } }, /proxy\[":1"\]\["\/p"\]\["ou"\]: missing \(required\)/],
      [{ west: { nm: 'x' }, proxy: { ':1': { ea: 'ws://h:1', '/p': { ou: 'http://h/' } } } }, /proxy\[":1"\]\["ea"\]: "ws:\/\/h:1" has no wstc entry/],
      [{ west: { nm: 'x' }, proxy: { ':1': { '/p': { ou: 'http://h/' } } } }, /exactly one of "ea" .* or "en"/],
      [{ west: { nm: 'x' }, wstc: { 'ws://h:1': { ee: 'maybe', token: 't' } } }, /wstc\["ws:\/\/h:1"\]\["ee"\]: must be "yes" or "no"/],
      [{ west: { nm: 'x' }, wstc: { 'ws://h:1': { token: 't', anonymous: 'yes' } } }, /wstc\["ws:\/\/h:1"\]\["anonymous"\]: unknown key/],
      [{ west: { nm: 'x' }, proxy: { ':1': { en: 'a', '/p': { ou: 'http://h/' } } } }, /proxy\[":1"\]\["en"\]: names a client of this west server, but there is no wsts/],
    ];
    for (const [config, expected] of cases) {
      writeFileSync(`${dir.path}/bad.json`, JSON.stringify(config, null, 2));
      const { code, stderr } = await runWebsocksy([`${dir.path}/bad.json`]);
      assert.equal(code, 1, stderr);
      assert.match(stderr, expected);
    }
  });

  /** Runs `text` as a west config from another working directory; returns the line its error names. */
  async function errorLine(text: string): Promise<{ line: number; stderr: string }> {
    writeFileSync(`${dir.path}/lines.json`, text);
    const { code, stderr } = await runWebsocksy(['lines.json'], dir.path);
    assert.equal(code, 1, stderr);
    const line = Number(/lines\.json:(\d+)/.exec(stderr)?.[1]);
    return { line, stderr };
  }

  test('errors name the line of the key at fault, even where the same key is used elsewhere', async () => {
    const routes = [
      '{',
      '  "west": { "nm": "x" },',
      '  "wstc": { "ws://h:1": { "token": "t" } },',
      '  "proxy": {',
      '    ":1": {',
      '      "ea": "ws://h:1",',
      '      "/ok": { "ou": "http://h/" },',
      '      "/bad": {',
      '        "ou": 7',
      '      }',
      '    }',
      '  }',
      '}',
    ];
    const wrongType = await errorLine(routes.join('\n'));
    assert.equal(wrongType.line, 9, wrongType.stderr);
    assert.match(wrongType.stderr, /proxy\[":1"\]\["\/bad"\]\["ou"\]: must be a non-empty string/);
    // A missing key is reported where the object that lacks it starts.
    const missing = await errorLine(routes.join('\n').replace('"ou": 7', '"ca": "x"'));
    assert.equal(missing.line, 8, missing.stderr);
    assert.match(missing.stderr, /\["\/bad"\]\["ou"\]: missing \(required\)/);
    const unknown = await errorLine(routes.join('\n').replace('"ou": 7', '"oops": 7'));
    assert.equal(unknown.line, 9, unknown.stderr);
    // The value "ou" on an earlier line is not the key "ou".
    const lookalike = await errorLine(['{', '  "west": { "nm": "ou" },', '  "wstc": { "ws://h:1": {} },', '  "proxy": { ":1": { "ea": "ws://h:1",', '    "/p": {} } }', '}'].join('\n'));
    assert.equal(lookalike.line, 5, lookalike.stderr);
    assert.match(lookalike.stderr, /proxy\[":1"\]\["\/p"\]\["ou"\]: missing/);
  });

  test('a setting read from the file names its line: a missing identities file', async () => {
    const { line, stderr } = await errorLine(['{', '  "west": { "nm": "x" },', '  "wsts": {', '    "sp": "ws://127.0.0.1:0",', '    "identities": "no-such-identities"', '  }', '}'].join('\n'));
    assert.equal(line, 5, stderr);
    assert.match(stderr, new RegExp(`identities: ${dir.path}/no-such-identities: cannot read identities file: ENOENT`));
  });

  test('syntax errors name the line they are on, never line 0', async () => {
    const cases: Array<[string, number, RegExp]> = [
      ['{\n  "west": { "nm": "x" },\n}\n', 3, /not JSON: Expected double-quoted property name$/m],
      ['{\n  "west": { "nm": tru }\n}\n', 2, /not JSON: Unexpected token/],
      ['{\n  "west": { "nm": "x" }\n  "wstc": {}\n}\n', 3, /not JSON: Expected ',' or '}' after property value$/m],
      ['{\n  "west": { "nm": "x" }\n', 3, /not JSON: Expected ',' or '}' after property value$/m],
      ['{\n  "west": { "nm": "x\n', 2, /not JSON: Bad control character in string literal$/m],
      ['{\n  "west": {\n    "nm": "x"\n  }\n}\n// comment\n', 6, /not JSON: Unexpected non-whitespace character after JSON$/m],
      ['', 1, /not JSON: Unexpected end of JSON input/],
    ];
    for (const [text, expectedLine, message] of cases) {
      const { line, stderr } = await errorLine(text);
      assert.equal(line, expectedLine, stderr);
      assert.match(stderr, message);
      assert.equal(stderr.trim().split('\n').filter((row) => row.startsWith('websocksy:')).length, 1, `one error line: ${stderr}`);
    }
  });
});
