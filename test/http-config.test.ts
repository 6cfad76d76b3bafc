/*
 * The route table (whole segments, longest prefix), and [route]
 * config errors, which name the file, line and key and stop websocksy before it listens
 * (examples.test.ts starts the examples).
 */
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { after, describe, test } from 'node:test';
import { RouteTable, restOf, type Route } from '../src/http/route-table.js';
import { parseAddress } from '../src/config/west.js';
import { tempDir } from './helpers/peers.js';
import { runWebsocksy } from './helpers/websocksy.js';

const dir = tempDir('websocksy-route-config-');
after(() => dir.remove());

function route(prefix: string): Route {
  return { prefix, target: { kind: 'static', root: '/srv', maxAge: null }, host: 'rewrite', timeoutMs: 1000, auth: null };
}

describe('route table', () => {
  const table = new RouteTable([route('/'), route('/foo'), route('/foo/bar'), route('/foo/bar/baz')]);
  test('whole segments, longest prefix first, whatever the order', () => {
    const cases: Array<[string, string]> = [
      ['/foo', '/foo'], ['/foo/', '/foo'], ['/foobar', '/'], ['/foo/bar', '/foo/bar'], ['/foo/barx', '/foo'],
      ['/foo/bar/baz/q', '/foo/bar/baz'], ['/', '/'], ['/other/foo', '/'],
    ];
    for (const [path, prefix] of cases) assert.equal(table.match(path)?.prefix, prefix, path);
    assert.equal(new RouteTable([route('/foo')]).match('/foobar'), null);
    assert.equal(restOf(route('/foo'), '/foo/x/y'), '/x/y');
    assert.equal(restOf(route('/'), '/x'), '/x');
  });
});

describe('west addresses', () => {
  test('inet_string forms', () => {
    assert.deepEqual(parseAddress('http://127.0.0.1:80', 18889), { listen: '127.0.0.1', port: 80 });
    assert.deepEqual(parseAddress(':9701', null), { listen: '::', port: 9701 });
    assert.deepEqual(parseAddress('[::1]:5', null), { listen: '::1', port: 5 });
    assert.deepEqual(parseAddress('http://example.org', 18889), { listen: 'example.org', port: 18889 });
    assert.throws(() => parseAddress('host', null), /is not host:port/);
  });
});

describe('[route] config errors', () => {
  const cases: Array<[string, string, RegExp]> = [
    ['unknown key', '[route /a]\nto = http://h/\nfoo = 1\n', /routes\.cfg:3 \[route \/a\]: foo: unknown key/],
    ['not http', '[route /a]\nto = ftp://h/\n', /routes\.cfg:2 \[route \/a\]: to: "ftp:\/\/h\/" is not a http:\/\/ or https:\/\/ URL/],
    ['two targets', '[route /a]\nto = http://h/\nstatic = /tmp\n', /routes\.cfg:1 \[route \/a\]: \[route \/a\] needs exactly one of to, websocket, static/],
    ['unknown via', '[route /a]\nto = http://h/\nvia = office\n', /routes\.cfg:3 \[route \/a\]: via: "office" is neither an \[upstream office\]/],
    ['via without to', '[route /a]\nstatic = /tmp\nvia = x\n', /routes\.cfg:3 \[route \/a\]: via: only a route with "to = http/],
    ['websocket at the root', '[route /]\nwebsocket = ws://h/\n', /\[route \/\]: a websocket route needs a prefix other than \//],
    ['missing folder', '[route /a]\nstatic = /no/such/folder\n', /routes\.cfg:2 \[route \/a\]: static: cannot use folder \/no\/such\/folder: ENOENT/],
    ['bad host mode', '[route /a]\nto = http://h/\nhost = maybe\n', /routes\.cfg:3 \[route \/a\]: host: "maybe" is neither keep nor rewrite/],
    ['bad timeout', '[route /a]\nto = http://h/\ntimeout = soon\n', /routes\.cfg:3 \[route \/a\]: timeout: "soon" is not a number of seconds/],
    ['bad max-age', '[route /a]\nstatic = /tmp\nmax-age = 1h\n', /routes\.cfg:3 \[route \/a\]: max-age: "1h" is not a whole number from 0 to 31536000/],
    ['max-age past a year', '[route /a]\nstatic = /tmp\nmax-age = 31536001\n', /routes\.cfg:3 \[route \/a\]: max-age: "31536001" is not a whole number/],
    ['max-age on a proxy route', '[route /a]\nto = http://h/\nmax-age = 60\n', /routes\.cfg:3 \[route \/a\]: max-age: only a route with "static = DIR" sets it/],
    ['key twice', '[route /a]\nto = http://h/\nto = http://i/\n', /routes\.cfg:3 \[route \/a\]: to: given twice/],
    ['the status path', '[status]\npath = /.status\nclients = loopback\n[route /.status]\nto = http://h/\n', /routes\.cfg:4 \[route \/\.status\]: \[route \/\.status\]: \/\.status is the tunnel or status path/],
    ['bad accept', '[upstream u]\nurl = ws://h/\nname = n\ntoken = t\naccept = nohost\n', /routes\.cfg:5 \[upstream u\]: accept: "nohost" is not host:port/],
  ];
  for (const [name, text, expected] of cases) {
    test(name, async () => {
      writeFileSync(`${dir.path}/routes.cfg`, text);
      const { code, stderr } = await runWebsocksy([`${dir.path}/routes.cfg`]);
      assert.equal(code, 1, stderr);
      assert.match(stderr, expected);
      assert.doesNotMatch(stderr, /listening/);
    });
  }
});
