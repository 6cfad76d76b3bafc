/*
 * The builtin backends on their own, without a server: every defaultpeer key and error, and
 * the file backend's templates, line format, matching rules and traversal defences, on real
 * files in a temp dir.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { Backend, BackendHost, HttpHeader, PeerInfo, PeerQuery } from '../src/core/api.js';
import { builtinBackends } from '../src/backends/index.js';
import { expandExpression } from '../src/backends/templates.js';
import { createFramingRegistry } from '../src/framing/index.js';
import { FramingRegistry } from '../src/framing/registry.js';

interface TestHost extends BackendHost {
  readonly warnings: string[];
}

/** A host with the real builtin framing functions, collecting warnings. */
function makeHost(registry: FramingRegistry = createFramingRegistry()): TestHost {
  const warnings: string[] = [];
  return { warnings, framing: (name) => registry.get(name), warn: (message) => warnings.push(message) };
}

function backend(name: string, settings: ReadonlyArray<readonly [string, string]>, host: BackendHost = makeHost()): Backend {
  const factory = builtinBackends.get(name);
  assert.ok(factory, `builtin backend ${name}`);
  const instance = factory(host);
  for (const [key, value] of settings) instance.configure?.(key, value, { baseDir: process.cwd() });
  instance.ready?.();
  return instance;
}

function request(endpoint = '/', protocols: readonly string[] = [], headers: readonly HttpHeader[] = []): PeerQuery {
  return { endpoint, protocols, headers, clientAddress: '127.0.0.1', connectionId: 1 };
}

function header(name: string, value: string): HttpHeader {
  return { name: name.toLowerCase(), value };
}

describe('builtinBackends', () => {
  test('holds defaultpeer and file, each naming itself', () => {
    assert.deepEqual([...builtinBackends.keys()].sort(), ['defaultpeer', 'file']);
    for (const [name, factory] of builtinBackends) assert.equal(factory(makeHost()).name, name);
  });
});

describe('defaultpeer', () => {
  /** defaultpeer's answer, which must not be a Promise. */
  function sync(result: ReturnType<Backend['query']>): PeerInfo | null {
    assert.ok(!(result instanceof Promise), 'defaultpeer answers synchronously');
    return result;
  }

  function answer(settings: ReadonlyArray<readonly [string, string]>, query = request()): PeerInfo | null {
    return sync(backend('defaultpeer', settings).query(query));
  }

  function rejects(key: string, value: string, message: RegExp): void {
    const instance = builtinBackends.get('defaultpeer')?.(makeHost());
    assert.throws(() => instance?.configure?.(key, value, { baseDir: process.cwd() }), message, `${key} = ${value}`);
  }

  test('defaults to tcp://localhost on port 5900 with auto framing and no subprotocol', () => {
    assert.deepEqual(answer([]), { host: 'tcp://localhost', port: '5900' });
    assert.deepEqual(answer([], request('/', ['p1'])), { host: 'tcp://localhost', port: '5900' });
  });

  test('port in host is used (websocksy always sent 5900)', () => {
    assert.deepEqual(answer([['host', 'tcp://127.0.0.1:5901']]), { host: 'tcp://127.0.0.1:5901' });
    assert.deepEqual(answer([['host', 'udp://10.0.0.1:53']]), { host: 'udp://10.0.0.1:53' });
    assert.deepEqual(answer([['host', 'example.org:22']]), { host: 'example.org:22' });
    assert.deepEqual(answer([['host', 'tcp://[::1]:80']]), { host: 'tcp://[::1]:80' });
  });

  test('a host without port gets port, else 5900', () => {
    assert.deepEqual(answer([['host', 'tcp://[::1]']]), { host: 'tcp://[::1]', port: '5900' });
    assert.deepEqual(answer([['host', 'udp://peer']]), { host: 'udp://peer', port: '5900' });
    assert.deepEqual(answer([['host', 'tcp://peer'], ['port', '6000']]), { host: 'tcp://peer', port: '6000' });
    assert.deepEqual(answer([['port', '6000'], ['host', 'TCP://[fe80::1]']]), { host: 'TCP://[fe80::1]', port: '6000' });
  });

  test('host port and port may agree, not differ', () => {
    assert.deepEqual(answer([['host', 'tcp://h:5901'], ['port', '5901']]), { host: 'tcp://h:5901' });
    assert.deepEqual(answer([['host', 'tcp://h:05901'], ['port', '5901']]), { host: 'tcp://h:05901' });
    assert.throws(() => answer([['host', 'tcp://h:5901'], ['port', '6000']]), /port 5901 but port = 6000/);
    assert.throws(() => answer([['port', '6000'], ['host', 'tcp://[::1]:5901']]), /port 5901 but port = 6000/);
  });

  test('unix sockets take no port; a port set anyway is ignored with a warning', () => {
    assert.deepEqual(answer([['host', 'unix:///run/a:b.sock']]), { host: 'unix:///run/a:b.sock' });
    assert.deepEqual(answer([['host', 'unix-dgram:///tmp/x']]), { host: 'unix-dgram:///tmp/x' });
    const host = makeHost();
    const instance = backend('defaultpeer', [['host', 'unix:///run/s'], ['port', '80']], host);
    assert.deepEqual(sync(instance.query(request())), { host: 'unix:///run/s' });
    assert.match(host.warnings.join('\n'), /port = 80 is ignored/);
  });

  test('bad hosts and ports are refused with what is accepted', () => {
    for (const port of ['0', '65536', 'http', '', '+1', '1e3', ' 22', '0x50', '-1', '123456']) {
      rejects('port', port, /is not a port \(a whole number from 1 to 65535\)/);
    }
    for (const host of ['tcp://h:http', 'tcp://h:', 'tcp://h:99999', 'tcp://[::1]:']) rejects('host', host, /is not a port/);
    rejects('host', 'tcp://::1', /IPv6 addresses need brackets/);
    rejects('host', '::1', /IPv6 addresses need brackets/);
    rejects('host', '', /empty host/);
  });

  test('protocol is matched case-insensitively and answered in the client spelling', () => {
    const instance = backend('defaultpeer', [['protocol', 'MQTT']]);
    assert.equal(sync(instance.query(request('/', ['binary', 'mqtt'])))?.protocol, 1);
    assert.equal(sync(instance.query(request('/', ['Mqtt'])))?.protocol, 0);
  });

  test('protocol not offered, or none offered: connect without answering one', () => {
    const instance = backend('defaultpeer', [['protocol', 'mqtt']]);
    assert.deepEqual(sync(instance.query(request('/', ['other']))), { host: 'tcp://localhost', port: '5900' });
    assert.deepEqual(sync(instance.query(request('/', []))), { host: 'tcp://localhost', port: '5900' });
  });

  test('protocol * takes the first offered, if any', () => {
    const instance = backend('defaultpeer', [['protocol', '*']]);
    assert.equal(sync(instance.query(request('/', ['b', 'a'])))?.protocol, 0);
    assert.equal(sync(instance.query(request('/', [])))?.protocol, undefined);
    rejects('protocol', '', /empty protocol/);
  });

  test('framing is resolved when configured; unknown names are errors, not auto', () => {
    assert.deepEqual(answer([['framing', 'binary']]), { host: 'tcp://localhost', port: '5900', framing: 'binary' });
    rejects('framing', 'nosuch', /unknown framing "nosuch"/);
  });

  test('framing-config goes to the framing and is checked by ready()', () => {
    assert.deepEqual(answer([['framing', 'separator'], ['framing-config', '\\r\\n']]), {
      host: 'tcp://localhost',
      port: '5900',
      framing: 'separator',
      framingConfig: '\\r\\n',
    });
    assert.throws(() => answer([['framing', 'separator']]), /framing "separator" rejects framing-config: separator needs a framing-config/);
  });

  test('framing-config is checked against auto when no framing is set, if auto is registered', () => {
    assert.throws(() => answer([['framing-config', 'x']]), /framing "auto" rejects framing-config: auto takes no framing-config/);
    const empty = makeHost(new FramingRegistry());
    assert.deepEqual(sync(backend('defaultpeer', [['framing-config', 'x']], empty).query(request())), {
      host: 'tcp://localhost',
      port: '5900',
      framingConfig: 'x',
    });
  });

  test('unknown keys are refused', () => {
    rejects('colour', 'blue', /unknown key "colour" \(known keys: host, port, protocol, framing, framing-config, resumable, proxy-protocol\)/);
    rejects('Host', 'tcp://x', /unknown key "Host"/);
  });
});

describe('file backend expressions', () => {
  const query = request('/vnc/?token=1', [], [
    header('Cookie', 'a=1;session=s1'),
    header('cookie', 'b=2'),
    header('X-Route', 'r/1'),
    header('Empty', ''),
  ]);

  test('%endpoint% drops the leading and one trailing /, keeps the query, and / becomes _', () => {
    assert.equal(expandExpression('%endpoint%.txt', query), 'vnc_?token=1.txt');
    assert.equal(expandExpression('%endpoint%', request('/test/')), 'test');
    assert.equal(expandExpression('%endpoint%', request('/test')), 'test');
    assert.equal(expandExpression('%endpoint%', request('/a/b//')), 'a_b_');
    assert.equal(expandExpression('%endpoint%', request('/')), undefined);
    assert.equal(expandExpression('%endpoint%', request('//')), undefined);
  });

  test('%cookie:NAME% reads every cookie header, with or without spaces after ;', () => {
    assert.equal(expandExpression('%cookie:session%', query), 's1');
    assert.equal(expandExpression('%cookie:b%', query), '2');
    assert.equal(expandExpression('%cookie:a%', request('/', [], [header('cookie', ' a = x ;b=1')])), 'x');
    assert.equal(expandExpression('%cookie:Session%', query), undefined, 'cookie names are case-sensitive');
    assert.equal(expandExpression('%cookie:none%', query), undefined);
    assert.equal(expandExpression('%cookie:a%', request('/', [], [header('cookie', 'a=; b=1')])), undefined);
    assert.equal(expandExpression('%cookie:sess%', query), undefined, 'no prefix match');
  });

  test('%header:Name% matches names in any case', () => {
    assert.equal(expandExpression('%header:X-Route%', query), 'r_1');
    assert.equal(expandExpression('%header:x-route%', query), 'r_1');
    assert.equal(expandExpression('%header:X-ROUTE%', query), 'r_1');
    assert.equal(expandExpression('%header:X-Other%', query), undefined);
    assert.equal(expandExpression('%header:Empty%', query), undefined);
  });

  test('unknown %…% text stays; several variables in one expression', () => {
    assert.equal(expandExpression('%nope%.txt', query), '%nope%.txt');
    assert.equal(expandExpression('%cookie:%', query), '%cookie:%');
    assert.equal(expandExpression('100%', query), '100%');
    assert.equal(expandExpression('%x%endpoint%', request('/a')), '%xa');
    assert.equal(expandExpression('%cookie:session%-%header:x-route%/%endpoint%', query), 's1-r_1/vnc_?token=1');
    assert.equal(expandExpression('%cookie:session%-%header:missing%', query), undefined);
  });

  test('a value holding NUL skips the expression', () => {
    assert.equal(expandExpression('%header:x%', request('/', [], [header('x', 'a\0b')])), undefined);
    assert.equal(expandExpression('%endpoint%', request('/a\0')), undefined);
  });
});

describe('file backend', () => {
  const root = mkdtempSync(join(tmpdir(), 'websocksy-backends-'));
  const base = join(root, 'peers');
  let host: TestHost;
  let files: Backend;

  function file(name: string, text: string): void {
    writeFileSync(join(base, name), text);
  }

  function fileBackend(expressions: readonly string[]): Backend {
    return backend('file', [['path', base], ...expressions.map((e) => ['expression', e] as const)], host);
  }

  before(() => {
    mkdirSync(base);
    writeFileSync(join(root, 'secret.txt'), 'tcp://outside:1 *\n');
    writeFileSync(join(root, 'secret'), 'tcp://outside:1 *\n');
    file('alpha.txt', 'tcp://alpha:1 *\n');
    file('vnc?token=1.txt', 'tcp://query:1 *\n');
    file('a_b.txt', 'tcp://slashes:1 *\n');
    file('s42.txt', 'tcp://cookie:1 *\n');
    file('by-header.txt', 'tcp://header:1 *\n');
    file('%nope%.txt', 'tcp://literal:1 *\n');
    file('default.txt', 'tcp://fallback:1 *\n');
    file('only-mqtt.txt', 'tcp://mqtt:1 mqtt\n');
    file('_etc_passwd', 'tcp://cookie-slashes:1 *\n');
    mkdirSync(join(base, '%2e%2e'));
    writeFileSync(join(base, '%2e%2e', 'secret.txt'), 'tcp://literal-dots:1 *\n');
    mkdirSync(join(base, 'dir.txt'));
  });

  after(() => rmSync(root, { recursive: true, force: true }));

  test('the endpoint names the file, with or without trailing /, query string included', async () => {
    host = makeHost();
    files = fileBackend(['%endpoint%.txt']);
    assert.equal((await files.query(request('/alpha')))?.host, 'tcp://alpha:1');
    assert.equal((await files.query(request('/alpha/')))?.host, 'tcp://alpha:1');
    assert.equal((await files.query(request('/vnc?token=1')))?.host, 'tcp://query:1');
    assert.equal((await files.query(request('/a/b')))?.host, 'tcp://slashes:1');
    assert.equal(await files.query(request('/')), null);
    assert.equal(await files.query(request('/missing')), null);
    assert.equal(await files.query(request('/dir')), null, 'a directory is no peer file');
  });

  test('expressions are tried in order; missing variables and files skip to the next', async () => {
    host = makeHost();
    files = fileBackend(['%endpoint%.txt', '%cookie:session%.txt', '%header:X-Route%.txt', '%nope%.txt', 'default.txt']);
    const cookie = header('Cookie', 'a=1;session=s42');
    const route = header('x-route', 'by-header');
    assert.equal((await files.query(request('/alpha', [], [cookie, route])))?.host, 'tcp://alpha:1');
    assert.equal((await files.query(request('/none', [], [cookie, route])))?.host, 'tcp://cookie:1');
    assert.equal((await files.query(request('/none', [], [header('Cookie', 'session=s42; a=1')])))?.host, 'tcp://cookie:1');
    assert.equal((await files.query(request('/none', [], [header('Cookie', 'session=nofile'), route])))?.host, 'tcp://header:1');
    assert.equal((await files.query(request('/none')))?.host, 'tcp://literal:1');
    assert.deepEqual(host.warnings, []);
  });

  test('a file without a matching line passes to the next expression; nothing anywhere is null', async () => {
    host = makeHost();
    files = fileBackend(['only-mqtt.txt', 'default.txt']);
    assert.deepEqual(await files.query(request('/', ['mqtt'])), { host: 'tcp://mqtt:1', protocol: 0 });
    assert.deepEqual(await files.query(request('/', ['ws'])), { host: 'tcp://fallback:1', protocol: 0 });
    assert.equal(await fileBackend(['only-mqtt.txt']).query(request('/', ['ws'])), null);
  });

  test('the file is re-read for every connection', async () => {
    host = makeHost();
    files = fileBackend(['changing.txt']);
    assert.equal(await files.query(request()), null);
    file('changing.txt', 'tcp://first:1 *\n');
    assert.equal((await files.query(request()))?.host, 'tcp://first:1');
    file('changing.txt', 'tcp://second:1 *\n');
    assert.equal((await files.query(request()))?.host, 'tcp://second:1');
  });

  describe('lines', () => {
    before(() => {
      file(
        'lines.txt',
        [
          '# comment line',
          '',
          'tcp://host-only:1',
          'tcp://bad-framing:1 p1 nosuch',
          'tcp://bad-config:1 p1 separator',
          '   ',
          'tcp://p1:1 p1 separator \\r\\n  with  spaces  \r',
          'tcp://p2:1\t\tp2   binary\r',
          'tcp://any:1 * auto',
          '',
        ].join('\n'),
      );
      file('host-first.txt', 'tcp://host-only:1\ntcp://next:1 p1\n');
    });

    test('offered protocols: the first line naming one of them wins, with its index', async () => {
      host = makeHost();
      files = fileBackend(['lines.txt']);
      assert.deepEqual(await files.query(request('/', ['p2', 'p1'])), {
        host: 'tcp://p1:1',
        framing: 'separator',
        framingConfig: '\\r\\n  with  spaces',
        protocol: 1,
      });
      assert.deepEqual(await files.query(request('/', ['x', 'p2'])), { host: 'tcp://p2:1', framing: 'binary', protocol: 1 });
    });

    test('the subprotocol column is case-sensitive; * takes the first offered', async () => {
      host = makeHost();
      files = fileBackend(['lines.txt']);
      assert.deepEqual(await files.query(request('/', ['P1', 'other'])), { host: 'tcp://any:1', framing: 'auto', protocol: 0 });
    });

    test('no protocol offered: the first well-formed line wins and none is answered', async () => {
      host = makeHost();
      files = fileBackend(['lines.txt']);
      assert.deepEqual(await files.query(request()), {
        host: 'tcp://p1:1',
        framing: 'separator',
        framingConfig: '\\r\\n  with  spaces',
      });
    });

    test('malformed lines are skipped with a warning naming file and line', async () => {
      host = makeHost();
      files = fileBackend(['lines.txt']);
      await files.query(request('/', ['p1']));
      const path = join(base, 'lines.txt');
      assert.equal(host.warnings.length, 3, host.warnings.join('\n'));
      assert.match(host.warnings[0] ?? '', new RegExp(`^${escape(path)}:3: .*no subprotocol column`));
      assert.match(host.warnings[1] ?? '', new RegExp(`^${escape(path)}:4: .*unknown framing "nosuch"`));
      assert.match(host.warnings[2] ?? '', new RegExp(`^${escape(path)}:5: .*framing "separator" rejects its config: separator needs a framing-config`));
    });

    test('a host-only line with no protocol offered is skipped (websocksy crashed on it)', async () => {
      host = makeHost();
      files = fileBackend(['host-first.txt']);
      assert.deepEqual(await files.query(request()), { host: 'tcp://next:1' });
      assert.match(host.warnings.join('\n'), /host-first\.txt:1: line skipped: no subprotocol column/);
    });
  });

  describe('traversal', () => {
    const attempts: ReadonlyArray<readonly [string, string, PeerQuery]> = [
      ['endpoint ..', '%endpoint%/secret.txt', request('/..')],
      ['endpoint ../', '%endpoint%/secret.txt', request('/../')],
      ['endpoint ../secret', '%endpoint%.txt', request('/../secret')],
      ['endpoint ....//', '%endpoint%/secret.txt', request('/....//')],
      ['endpoint ..%2f', '%endpoint%/secret.txt', request('/..%2f')],
      ['cookie ..', '%cookie:s%/secret.txt', request('/', [], [header('cookie', 's=..')])],
      ['cookie ../secret', '%cookie:s%', request('/', [], [header('cookie', 's=../secret')])],
      ['header ..', '%header:x-route%/secret', request('/', [], [header('x-route', '..')])],
      ['header with NUL', '%header:x-route%', request('/', [], [header('x-route', 'alpha.txt\0')])],
      ['expression with ..', '../%endpoint%', request('/secret.txt')],
      ['expression naming the base itself', '%endpoint%/.', request('/.')],
      ['very long endpoint', '%endpoint%', request(`/${'a'.repeat(9000)}`)],
      ['long but legal endpoint', '%endpoint%', request(`/${'a'.repeat(4000)}`)],
    ];

    for (const [name, expression, query] of attempts) {
      test(`${name} finds nothing outside the base`, async () => {
        host = makeHost();
        assert.equal(await fileBackend([expression]).query(query), null);
        assert.deepEqual(await fileBackend([expression, 'default.txt']).query(query), { host: 'tcp://fallback:1' }, 'skipped, not failed');
      });
    }

    test('%2e%2e is not decoded: it names a literal directory', async () => {
      host = makeHost();
      assert.deepEqual(await fileBackend(['%endpoint%/secret.txt']).query(request('/%2e%2e')), { host: 'tcp://literal-dots:1' });
    });

    test('/etc/passwd as a cookie names the file _etc_passwd inside the base', async () => {
      host = makeHost();
      const query = request('/', [], [header('cookie', 's=/etc/passwd')]);
      assert.deepEqual(await fileBackend(['%cookie:s%']).query(query), { host: 'tcp://cookie-slashes:1' });
    });

    test('a leading / in an expression stays under the base, as in websocksy', async () => {
      host = makeHost();
      assert.deepEqual(await fileBackend(['/%endpoint%.txt']).query(request('/alpha')), { host: 'tcp://alpha:1' });
    });

    test('a FIFO in the base is no peer file, and does not hang the query', async (t) => {
      try {
        execFileSync('mkfifo', [join(base, 'fifo.txt')]);
      } catch {
        t.skip('mkfifo not available');
        return;
      }
      host = makeHost();
      assert.deepEqual(await fileBackend(['fifo.txt', 'default.txt']).query(request()), { host: 'tcp://fallback:1' });
    });
  });

  describe('configuration', () => {
    function configured(settings: ReadonlyArray<readonly [string, string]>): () => Backend {
      return () => backend('file', settings);
    }

    test('path is required and must be an existing directory', () => {
      assert.throws(configured([['expression', 'x']]), /path is not set/);
      assert.throws(configured([['path', join(root, 'nowhere')], ['expression', 'x']]), /nowhere: ENOENT/);
      assert.throws(configured([['path', join(root, 'secret.txt')], ['expression', 'x']]), /secret\.txt is not a directory/);
      assert.throws(configured([['path', '']]), /empty path/);
    });

    test('at least one non-empty expression; unknown keys are refused', () => {
      assert.throws(configured([['path', base]]), /no expression set/);
      assert.throws(configured([['path', base], ['expression', '']]), /empty expression/);
      assert.throws(configured([['path', base], ['Path', base]]), /unknown key "Path" \(known keys: path, expression\)/);
    });

    test('a relative path is taken from the working directory', async () => {
      host = makeHost();
      const instance = backend('file', [['path', relative(process.cwd(), base)], ['expression', 'alpha.txt']], host);
      assert.equal((await instance.query(request()))?.host, 'tcp://alpha:1');
    });
  });
});

/** `text` as a literal in a RegExp. */
function escape(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
