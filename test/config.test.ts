/*
 * Every configuration error names the flag, or the file, line and key; exits non-zero; and
 * websocksy never starts listening. Relative paths in a file start from its folder; --help and
 * README.md's option table agree.
 */
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { after, describe, test } from 'node:test';
import { coreOptions } from '../src/config/core-options.js';
import { closeClient, connect } from './helpers/client.js';
import { tcpEcho, tempDir } from './helpers/peers.js';
import { ROOT, runWebsocksy, startWebsocksy } from './helpers/websocksy.js';

const dir = tempDir();
after(() => dir.remove());

function configFile(name: string, text: string): string {
  const path = `${dir.path}/${name}`;
  writeFileSync(path, text);
  return path;
}

/**
 * For the suites of refused starts: each test runs a websocksy of its own that exits at once,
 * on files of its own, so they run side by side (the start, not the check, is what takes time).
 */
const SIDE_BY_SIDE = { concurrency: 4 };

async function assertRefused(args: readonly string[], message: RegExp, exitCode = 1): Promise<void> {
  const { code, stderr } = await runWebsocksy(args);
  assert.equal(code, exitCode, `exit code for ${args.join(' ')}; stderr: ${stderr}`);
  assert.match(stderr, message);
  assert.doesNotMatch(stderr, /listening/);
}

describe('command line errors', SIDE_BY_SIDE, () => {
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

describe('sizes have upper bounds that fit the engine, and the error names them', SIDE_BY_SIDE, () => {
  // uWS keeps maxPayloadLength in 32 bits: 2g used to wrap to 0 and drop every message with 1006.
  test('--max-message 2g', () => assertRefused(['--max-message', '2g'], /--max-message 2g: max-message: "2g" is not a size from 125 to 1g/));
  test('--frame-limit 1g', () => assertRefused(['--frame-limit', '1g'], /--frame-limit 1g: frame-limit: "1g" is not a size from 1 to 512m/));
  test('--client-buffer 1g', () => assertRefused(['--client-buffer', '1g'], /--client-buffer 1g: client-buffer: "1g" is not a size from 1k to 512m/));
  test('--peer-buffer 5g', () => assertRefused(['--peer-buffer', '5g'], /--peer-buffer 5g: peer-buffer: "5g" is not a size from 1k to 4g/));
  test('a size in a file names the line and the bound', () =>
    assertRefused([configFile('size.cfg', '[core]\nport = 0\nmax-message = 4096m\n')], /size\.cfg:3 \[core\]: max-message: "4096m" is not a size from 125 to 1g/));
  test('peer-buffer smaller than max-message is refused, naming both', () =>
    assertRefused(['--max-message', '16m', '--peer-buffer', '4m'], /command line --peer-buffer 4m: peer-buffer: 4m is smaller than max-message \(16m\)/));
  test('a peer-buffer as large as max-message starts', async () => {
    const server = await startWebsocksy(['-l', '127.0.0.1', '-p', '0', '--max-message', '16m', '--peer-buffer', '16m']);
    await server.stop();
  });
});

describe('the listen address', SIDE_BY_SIDE, () => {
  const withPorts: ReadonlyArray<readonly [string, string, string]> = [['127.0.0.1:8001', '127.0.0.1', '8001'], ['[::1]:8001', '::1', '8001'], ['localhost:80', 'localhost', '80']];
  for (const [given, address, port] of withPorts) {
    test(`-l ${given} says that the port goes in -p`, () =>
      assertRefused(['-l', given], new RegExp(`-l \\S+: listen: "\\S+" holds a port: the address goes in -l/listen \\(${address}\\), the port in -p/port \\(${port}\\)`)));
  }
  test('listen = host:port in a file names the line', () =>
    assertRefused([configFile('listen.cfg', '[core]\nlisten = 127.0.0.1:8001\n')], /listen\.cfg:2 \[core\]: listen: "127\.0\.0\.1:8001" holds a port/));
  test('an IPv6 address without a port is not mistaken for one with a port', async () => {
    const server = await startWebsocksy(['-l', '::1', '-p', '0']);
    assert.match(server.log(), /listening address=::1 /);
    await server.stop();
  });
});

describe('config file mistakes that start anyway', SIDE_BY_SIDE, () => {
  test('a [core] key given twice in the file warns, naming the line that counts and the one ignored; a flag over the file and backend = do not', async () => {
    const file = configFile('twice.cfg', '[core]\nlisten = 127.0.0.1\nport = 1\nport = 0\nping = 20\n[backend]\nhost = tcp://127.0.0.1:1\n[core]\nping = 30\nbackend = defaultpeer\n');
    const server = await startWebsocksy([file, '-k', '40']);
    await server.stop();
    const warnings = server.log().match(/warn  core option given twice .*/g) ?? [];
    assert.deepEqual(warnings, [
      `warn  core option given twice key=port counts="${file}:4 [core]" ignored="${file}:3 [core]"`,
      `warn  core option given twice key=ping counts="${file}:9 [core]" ignored="${file}:5 [core]"`,
    ]);
    const checked = await runWebsocksy(['--check', file]);
    assert.equal(checked.code, 0);
    assert.match(checked.stdout, /the configuration is valid/);
    assert.equal(checked.stderr.match(/warn  core option given twice /g)?.length, 2, '--check warns the same');
  });
});

describe('config file errors', SIDE_BY_SIDE, () => {
  test('missing file', () => assertRefused([`${dir.path}/missing.cfg`], /cannot read config file .*missing\.cfg: ENOENT/));

  test('unknown section names file and line', () =>
    assertRefused([configFile('section.cfg', '[core]\nport = 1\n\n[cores]\n')], /section\.cfg:4: unknown section \[cores\]/));

  test('a line without = names file and line', () =>
    assertRefused([configFile('noequals.cfg', '[core]\nport 8001\n')], /noequals\.cfg:2 \[core\]: expected "key = value"/));

  test('unknown core key names file, line and key', () =>
    assertRefused([configFile('corekey.cfg', '[core]\nport = 0\nprot = 1\n')], /corekey\.cfg:3 \[core\]: unknown core option "prot"/));

  test('bad core value names file, line and key', () =>
    assertRefused([configFile('ping.cfg', '; comment\n[core]\nping = soon\n')], /ping\.cfg:3 \[core\]: ping: "soon" is not a number of seconds/));

  test('a yes/no option that is neither names file, line and key', () =>
    assertRefused([configFile('early.cfg', '[core]\nport = 0\nearly-upgrade = soon\n')], /early\.cfg:3 \[core\]: early-upgrade: "soon" is not a boolean/));

  test('a backend that rejects a line names file, line and key', () =>
    assertRefused(
      [configFile('backend.cfg', '[core]\nbackend = file\n[backend]\npath = /tmp\ncolour = blue\n')],
      /backend\.cfg:5 \[backend\]: backend "file" rejected colour = blue/,
    ));

  test('a backend whose whole config is incomplete says so', () =>
    assertRefused([configFile('incomplete.cfg', '[core]\nbackend = file\n')], /incomplete\.cfg:2 \[core\]: backend "file": path is not set/));

  test('a file-backend path that does not exist names its own line, resolved from the file', () =>
    assertRefused(
      [configFile('nopath.cfg', '[core]\nbackend = file\n[backend]\nexpression = %endpoint%.txt\npath = no-such-folder\n')],
      new RegExp(`nopath\\.cfg:5 \\[backend\\]: backend "file" rejected path = no-such-folder: path ${dir.path}/no-such-folder: ENOENT`),
    ));

  test('a file-backend path that is a file names its line', () =>
    assertRefused(
      [configFile('filepath.cfg', '[core]\nbackend = file\n[backend]\npath = filepath.cfg\nexpression = x\n')],
      /filepath\.cfg:4 \[backend\]: backend "file" rejected path = filepath\.cfg: path \S+filepath\.cfg is not a directory/,
    ));

  test('a missing identities file names the config line and the path it tried', () =>
    assertRefused(
      [configFile('ids.cfg', '[core]\nport = 0\n\n[tunnel]\npath = /.t\nidentities = no-such-identities\n')],
      new RegExp(`ids\\.cfg:6 \\[tunnel\\]: identities: ${dir.path}/no-such-identities: cannot read identities file: ENOENT`),
    ));

  test('a bad identities line names the identities file and its line, after the config line', async () => {
    writeFileSync(`${dir.path}/tokenless`, '# comment\nalice secret-1 connect=127.0.0.1:22\ny connect=127.0.0.1:22\n');
    const { stderr } = await runWebsocksy([configFile('tokenless.cfg', '[tunnel]\nidentities = tokenless\n')]);
    assert.match(stderr, new RegExp(`tokenless\\.cfg:2 \\[tunnel\\]: identities: ${dir.path}/tokenless:3: identity "y" has no token`));
    assert.doesNotMatch(stderr, /secret-1/);
  });

  test('a section header error names the line, not a section', () =>
    assertRefused([configFile('header.cfg', '[core]\nport = 0\n[tunnel\n')], /header\.cfg:3: unknown section \[tunnel /));

  test('[route] and [upstream] without a usable name say what the name must be', async () => {
    await assertRefused([configFile('route.cfg', 'port = 0\n[route]\nto = http://h/\n')], /route\.cfg:2: \[route\] is not \[route \/PREFIX\]: the prefix is a path starting with \//);
    await assertRefused([configFile('route2.cfg', '[route /a b]\n')], /route2\.cfg:1: \[route \/a b\] is not \[route \/PREFIX\]: .*without spaces/);
    await assertRefused([configFile('upstream.cfg', '[upstream]\n')], /upstream\.cfg:1: \[upstream\] is not \[upstream NAME\]/);
  });

  test('quoted values: a comment may follow, an unclosed quote or text after the closing one is an error', async () => {
    const good = configFile('quoted.cfg', `[core]\nlisten = "127.0.0.1" ; a comment\nport = '0' # another\n[backend]\nhost = "tcp://127.0.0.1:9" ; the peer\n`);
    const server = await startWebsocksy([good]);
    assert.match(server.log(), /listening address=127\.0\.0\.1 /);
    await server.stop();
    await assertRefused([configFile('unclosed.cfg', '[backend]\nhost = "tcp://127.0.0.1:9\n')], /unclosed\.cfg:2 \[backend\]: host: the quote that opens "tcp:\/\/127\.0\.0\.1:9 never closes/);
    await assertRefused([configFile('after.cfg', '[backend]\nhost = "tcp://h:9" x\n')], /after\.cfg:2 \[backend\]: host: "x" follows the closing quote/);
    await assertRefused([configFile('escape.cfg', '[backend]\nframing = separator\nframing-config = "\\x0d"\n')], /escape\.cfg:3 \[backend\]: framing-config: "\\x0d" is not a valid "quoted" value .*'\.\.\.' keeps backslashes/);
  });
});

describe('an empty section is an error, not nothing', SIDE_BY_SIDE, () => {
  const cases: Array<[string, RegExp]> = [
    ['[tunnel]', /\[tunnel\] needs "identities = FILE"/],
    ['[status]', /\[status\] needs "path = \/something"/],
    ['[route /x]', /\[route \/x\] needs exactly one of to, websocket, static/],
    ['[upstream office]', /\[upstream office\] needs url/],
  ];
  for (const [section, message] of cases) {
    const name = section.replace(/\W+/g, '-').replace(/^-|-$/g, '');
    test(`${section} at the end of the file`, () =>
      assertRefused([configFile(`empty-${name}.cfg`, `port = 0\n${section}\n`)], new RegExp(`empty-${name}\\.cfg:2 \\[[^\\]]+\\]: ${message.source}`)));
    test(`${section} followed by another section`, () =>
      assertRefused([configFile(`empty-mid-${name}.cfg`, `[core]\nport = 0\n${section}\n; nothing here\n[core]\nverbose = no\n`)], new RegExp(`empty-mid-${name}\\.cfg:3 \\[[^\\]]+\\]: ${message.source}`)));
  }
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

  test('--help and the option table in README.md list the same flags, keys and defaults', async () => {
    const { stdout } = await runWebsocksy(['-h']);
    const helpRows = new Map<string, string>();
    for (const line of stdout.split('\n')) {
      const match = /^ {2}(?:-\w, | {4})(--[\w-]+)/.exec(line);
      if (match !== null) helpRows.set(match[1] as string, line);
    }
    const readme = readFileSync(`${ROOT}README.md`, 'utf8');
    const table = readme.slice(readme.indexOf('| flag | config key')).split('\n\n')[0] ?? '';
    const readmeRows = new Map<string, { flags: string; key: string; defaultValue: string }>();
    for (const line of table.split('\n').slice(2)) {
      const [flags = '', key = '', defaultValue = ''] = line.split('|').slice(1).map((cell) => cell.trim());
      const long = /`(--[\w-]+)`/.exec(flags)?.[1];
      assert.ok(long !== undefined, `README row without a long flag: ${line}`);
      readmeRows.set(long, { flags, key, defaultValue });
    }
    assert.deepEqual([...readmeRows.keys()].sort(), [...helpRows.keys()].sort(), 'the same long flags');
    for (const [long, row] of readmeRows) {
      const help = helpRows.get(long) as string;
      const short = /^ {2}(-\w),/.exec(help)?.[1];
      assert.equal(/`(-\w)`/.exec(row.flags)?.[1], short, `short flag of ${long}`);
    }
    for (const option of coreOptions) {
      const row = readmeRows.get(`--${option.key}`);
      assert.equal(row?.key, `\`${option.key}\``, `README's config key for --${option.key}`);
      const helpDefault = /\(default ([^,;)\s]+)/.exec(option.help)?.[1];
      if (helpDefault !== undefined) assert.ok(row?.defaultValue.includes(helpDefault), `README's default for --${option.key} is ${helpDefault}: ${row?.defaultValue}`);
    }
  });

  test('--version prints the version', async () => {
    const { code, stdout } = await runWebsocksy(['--version']);
    assert.equal(code, 0);
    assert.match(stdout, /^websocksy \d+\.\d+\.\d+/);
  });

  test('--version with WEBSOCKSY_ENGINE=js names the JS engine, not a native one', async () => {
    const { code, stdout } = await runWebsocksy(['--version'], ROOT, { WEBSOCKSY_ENGINE: 'js' });
    assert.equal(code, 0);
    assert.match(stdout, /\nengine: websocksy's JS engine \(node:http v[\d.]+ \+ ws@[\d.]+; .*WEBSOCKSY_ENGINE=js\)\n$/);
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

describe("relative paths in a config file start from the file's folder, whatever the working directory", () => {
  const elsewhere = tempDir('websocksy-elsewhere-');
  after(() => elsewhere.remove());

  test("the file backend's path, the plugin folder and a token-file", async () => {
    const echo = await tcpEcho();
    const folder = tempDir('websocksy-relative-');
    try {
      mkdirSync(`${folder.path}/peers`);
      writeFileSync(`${folder.path}/peers/here.txt`, `${echo.address} * newline lf\n`);
      mkdirSync(`${folder.path}/plug`);
      writeFileSync(`${folder.path}/plug/framing_whole.mjs`, "export default { name: 'whole', frame: (data) => (data === null ? 0 : data.length) };\n");
      writeFileSync(`${folder.path}/office.token`, 'token-from-file\n');
      const config = `${folder.path}/relative.cfg`;
      writeFileSync(
        config,
        '[core]\nplugins = plug\nbackend = file\nallow-peers = tcp:127.0.0.1:*\n[backend]\npath = peers\nexpression = %endpoint%.txt\n' +
          '[upstream office]\nurl = ws://127.0.0.1:1/.tunnel\nname = me\ntoken-file = office.token\nreconnect-min = 1\nreconnect-max = 5\n',
      );
      const server = await startWebsocksy([config, '-l', '127.0.0.1', '-p', '0'], { cwd: elsewhere.path });
      try {
        assert.match(server.log(), new RegExp(`framing plugin loaded framing=whole file=${folder.path}/plug/framing_whole\\.mjs`));
        const client = await connect(`${server.url}/here`);
        client.ws.send('through the file backend\n');
        assert.equal((await client.next()).data.toString(), 'through the file backend\n');
        await closeClient(client);
      } finally {
        await server.stop();
      }
      // On the command line, the same relative path starts from the working directory.
      const fromFlags = await startWebsocksy(['-l', '127.0.0.1', '-p', '0', '-b', 'file', '-c', 'path=peers', '-c', 'expression=%endpoint%.txt'], { cwd: folder.path });
      await fromFlags.stop();
      assert.match((await runWebsocksy(['-b', 'file', '-c', 'path=peers', '-c', 'expression=x'], elsewhere.path)).stderr, new RegExp(`-c path=peers: backend "file" rejected path = peers: path ${elsewhere.path}/peers: ENOENT`));
    } finally {
      folder.remove();
      await echo.close();
    }
  });
});
