/*
 * The npm package, as a user gets it: `npm pack` in a copy of the repository's own files (what a
 * fresh clone holds: no node_modules, dist or build, so the prepack script has to build
 * everything), the tarball installed into an empty folder, and there `npx websocksy --version`,
 * a bridged echo, and a C plugin built with the gcc line docs/plugins.md gives.
 */
import assert from 'node:assert/strict';
import { execFile, execFileSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, normalize } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { promisify } from 'node:util';
import { closeClient, connect } from './helpers/client.js';
import { documented } from './helpers/docs.js';
import { tcpEcho, tempDir, type Peer } from './helpers/peers.js';
import { findProgram, requireProgram, skipUnlessInstalled } from './helpers/tools.js';
import { ROOT, startWebsocksy } from './helpers/websocksy.js';

const run = promisify(execFile);
const LOCAL = ['-l', '127.0.0.1', '-p', '0', '-k', '0'];
const version = (JSON.parse(readFileSync(`${ROOT}package.json`, 'utf8')) as { version: string }).version;

const npm = findProgram(['/usr/bin/npm', '/usr/local/bin/npm', join(dirname(process.execPath), 'npm')]);
const git = findProgram(['/usr/bin/git', '/usr/local/bin/git']);
const gcc = findProgram(['/usr/bin/gcc']);
// The matrix tests the suite on other Nodes in a Debian 13 root that holds a copy of the built
// project without .git and a Node without npm; packing is checked once, by make test here.
const inMatrixRow = process.env['WEBSOCKSY_MATRIX_ROW'] === '1';
const skip = inMatrixRow ? 'the package is packed and installed by make test, not in the matrix rows' : skipUnlessInstalled(npm !== undefined && git !== undefined && gcc !== undefined, 'npm, git or gcc');

/** Every file a fresh clone holds, as the working tree has it now (tracked, or new and not ignored). */
function cloneFiles(): string[] {
  const list = execFileSync(requireProgram(git, 'git'), ['ls-files', '-z', '--cached', '--others', '--exclude-standard'], { cwd: ROOT, encoding: 'utf8' });
  return list.split('\0').filter((path) => path !== '' && existsSync(`${ROOT}${path}`));
}

/** The relative links of a Markdown text (no scheme, no bare #anchor), without their #anchor. */
function relativeLinks(markdown: string): string[] {
  return [...markdown.matchAll(/\]\(([^)\s]+)\)/g)]
    .map((match) => match[1] as string)
    .filter((target) => !/^[a-z][a-z0-9+.-]*:/i.test(target) && !target.startsWith('#'))
    .map((target) => target.replace(/#.*$/, ''));
}

describe('the npm package installs and runs in an empty folder', { skip }, () => {
  const work = tempDir('websocksy-package-');
  const clone = `${work.path}/clone`;
  const app = `${work.path}/app`;
  const installed = `${app}/node_modules/websocksy/`;
  let packed: Set<string>;
  let echo: Peer;

  before(async () => {
    const npmPath = requireProgram(npm, 'npm');
    for (const path of cloneFiles()) {
      mkdirSync(dirname(`${clone}/${path}`), { recursive: true });
      cpSync(`${ROOT}${path}`, `${clone}/${path}`);
    }
    // The prepack script builds: npm ci, tsc, and the C host library and plugins with gcc.
    await run(npmPath, ['pack', '--pack-destination', work.path], { cwd: clone, timeout: 300_000, maxBuffer: 16 << 20 });
    const tarball = `${work.path}/websocksy-${version}.tgz`;
    packed = new Set(
      execFileSync('tar', ['-tzf', tarball], { encoding: 'utf8' })
        .split('\n')
        .filter((line) => line.startsWith('package/'))
        .map((line) => line.slice('package/'.length)),
    );
    mkdirSync(app);
    writeFileSync(`${app}/package.json`, '{ "private": true }\n');
    await run(npmPath, ['install', '--no-audit', '--no-fund', '--prefer-offline', tarball], { cwd: app, timeout: 300_000, maxBuffer: 16 << 20 });
    echo = await tcpEcho();
  });
  after(async () => {
    await echo?.close();
    work.remove();
  });

  test('the tarball holds the built server, the C host library and plugins, docs, examples and LICENSE, and no tests', () => {
    const cPlugins = readdirSync(`${ROOT}plugins`).filter((name) => name.endsWith('.c'));
    const wanted = [
      'LICENSE',
      'README.md',
      'package.json',
      'bin/websocksy',
      'dist/src/main.js',
      'dist/client/websocksy-client.js',
      ...['status.html', 'status.css', 'page.js', 'uPlot.iife.min.js', 'uPlot.min.css', 'uPlot.LICENSE'].map((name) => `dist/status-page/${name}`),
      'websocksy.cfg',
      'build/libwebsocksy-host.so',
      'src/native/host.c',
      'plugins/websocksy.h',
      ...cPlugins.map((name) => `build/plugins/${name.replace(/\.c$/, '.so')}`),
      ...readdirSync(`${ROOT}docs`).map((name) => `docs/${name}`),
      ...cloneFiles().filter((path) => path.startsWith('examples/')),
    ];
    assert.deepEqual(wanted.filter((path) => !packed.has(path)), [], 'missing from the package');
    const unwanted = [...packed].filter((path) => /^(test|dist\/test|dist\/bench|dist\/fuzz|fuzz|node_modules|bench\/lib|bench\/anchors)\//.test(path));
    assert.deepEqual(unwanted, [], 'in the package but for development only');
  });

  test('every relative link in the packed README and docs leads to a packed file', () => {
    const broken: string[] = [];
    for (const page of [...packed].filter((path) => path.endsWith('.md'))) {
      for (const target of relativeLinks(readFileSync(`${installed}${page}`, 'utf8'))) {
        const resolved = normalize(join(dirname(page), target));
        if (!packed.has(resolved) && ![...packed].some((path) => path.startsWith(`${resolved}/`))) broken.push(`${page} → ${target}`);
      }
    }
    assert.deepEqual(broken, []);
  });

  test('npx websocksy --version in the installing folder names the version and the engine', async () => {
    const { stdout } = await run(requireProgram(npm, 'npm').replace(/npm$/, 'npx'), ['websocksy', '--version'], { cwd: app, timeout: 60_000 });
    assert.match(stdout, new RegExp(`^websocksy ${version.replaceAll('.', '\\.')}\\n`));
    assert.match(stdout, /^engine: uWS [\d.]+ native /m);
  });

  test('the installed websocksy bridges a WebSocket client to a TCP peer', async () => {
    const server = await startWebsocksy([...LOCAL, '-c', `host=${echo.address}`], { cwd: app, bin: `${installed}bin/websocksy` });
    try {
      const client = await connect(`${server.url}/`);
      client.ws.send('through the installed package\n');
      assert.equal((await client.next()).data.toString(), 'through the installed package\n');
      await closeClient(client);
    } finally {
      await server.stop();
    }
  });

  test('the installed websocksy serves the status page and its assets, uPlot included, from the package itself', async () => {
    writeFileSync(`${app}/status-token`, 'package-test-token\n');
    writeFileSync(`${app}/websocksy.cfg`, ['[core]', 'listen = 127.0.0.1', 'port = 0', '[backend]', `host = ${echo.address}`, '[status]', 'path = /.status', 'token-file = status-token', ''].join('\n'));
    const server = await startWebsocksy(['websocksy.cfg'], { cwd: app, bin: `${installed}bin/websocksy` });
    try {
      const base = `http://127.0.0.1:${server.port}`;
      const shell = await fetch(`${base}/.status`, { headers: { Accept: 'text/html' } });
      assert.equal(shell.status, 200);
      const assets = [...(await shell.text()).matchAll(/(?:src|href)="(\/\.status\/assets\/[^"]+)"/g)].map((match) => match[1] as string);
      assert.deepEqual(assets.map((path) => path.replace(/.*\//, '')).sort(), ['page.js', 'status.css', 'uPlot.iife.min.js', 'uPlot.min.css']);
      for (const path of assets) {
        const answer = await fetch(`${base}${path}`);
        assert.equal(answer.status, 200, path);
        assert.match(answer.headers.get('content-type') ?? '', path.endsWith('.js') ? /^text\/javascript/ : /^text\/css/, path);
        const body = Buffer.from(await answer.arrayBuffer());
        if (path.includes('/uPlot.')) assert.ok(body.equals(readFileSync(`${ROOT}node_modules/uplot/dist/${path.replace(/.*\//, '')}`)), `${path} is uPlot's own file`);
        else assert.ok(body.length > 0, path);
      }
      // page.js's own modules, beside it.
      const page = assets.find((path) => path.endsWith('/page.js')) as string;
      const folder = page.slice(0, page.lastIndexOf('/') + 1);
      for (const [, name] of (await (await fetch(`${base}${page}`)).text()).matchAll(/from '\.\/([\w.-]+)'/g)) assert.equal((await fetch(`${base}${folder}${name}`)).status, 200, `page.js imports ${name}`);
    } finally {
      await server.stop();
    }
  });

  test("a C framing plugin built with docs/plugins.md's gcc line against the installed header frames an echoed stream", async () => {
    const folder = `${work.path}/my-plugins`;
    mkdirSync(folder);
    writeFileSync(`${folder}/framing_pairs.c`, documented('### Framing functions', 'c'));
    const line = documented('## C plugins', 'sh').trim();
    assert.match(line, /^gcc .*-I\/path\/to\/websocksy\/plugins -o backend_mine\.so backend_mine\.c$/);
    const args = line
      .split(/\s+/)
      .slice(1)
      .map((word) => word.replace('/path/to/websocksy/', installed).replace('backend_mine', 'framing_pairs'));
    await run(requireProgram(gcc, 'gcc'), args, { cwd: folder, timeout: 60_000 });
    const server = await startWebsocksy([...LOCAL, '-P', folder, '-c', `host=${echo.address}`, '-c', 'framing=pairs'], { cwd: app, bin: `${installed}bin/websocksy` });
    try {
      const client = await connect(`${server.url}/`);
      client.ws.send(Buffer.from([1, 2, 3, 4]));
      assert.deepEqual([(await client.next()).data.toString('hex'), (await client.next()).data.toString('hex')], ['0102', '0304']);
      await closeClient(client);
    } finally {
      await server.stop();
    }
  });
});
