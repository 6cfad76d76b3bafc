/*
 * What a start loads. Each module costs start-up time (Node 20 takes about a millisecond per
 * module, and a start is mostly that): a server loads undici, the Redis client, prom-client,
 * jose, pino, jsonc-parser and the JS engine only when its configuration uses them
 * (docs/architecture.md, "Loaded on demand"), and `websocksy forward` none of the server. A static import that brings one back fails here, named. Read through
 * helpers/record-modules.ts, preloaded into the process.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { after, describe, test } from 'node:test';
import { tempDir } from './helpers/peers.js';
import { BIN, ROOT, startWebsocksy } from './helpers/websocksy.js';

const dir = tempDir('websocksy-modules-');
after(() => dir.remove());

const RECORDER = `${ROOT}dist/test/helpers/record-modules.js`;
let runs = 0;

/** The packages (and websocksy's own modules, as src/...) a process loaded; `exercise` runs it. */
async function loadedBy(exercise: (env: NodeJS.ProcessEnv) => Promise<void>): Promise<Set<string>> {
  const file = `${dir.path}/modules-${++runs}.txt`;
  writeFileSync(file, '');
  await exercise({ WEBSOCKSY_TEST_MODULES: file, NODE_OPTIONS: `--import=${RECORDER}` });
  const loaded = new Set<string>();
  for (const path of readFileSync(file, 'utf8').split('\n')) {
    const inPackage = /\/node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(path);
    if (inPackage !== null) loaded.add(inPackage[1] as string);
    else if (path.startsWith(`${ROOT}dist/src/`)) loaded.add(path.slice(`${ROOT}dist/`.length).replace(/\.js$/, '.ts'));
  }
  return loaded;
}

async function startAndStop(args: readonly string[], readyPattern?: RegExp): Promise<Set<string>> {
  return loadedBy(async (env) => {
    const server = await startWebsocksy(args, { env, ...(readyPattern === undefined ? {} : { readyPattern }) });
    assert.equal(await server.stop('SIGINT'), 0);
  });
}

/** The packages a native engine loads from (front/engine.ts): which one depends on the Node. */
const UWS_PACKAGES = ['uWebSockets.js', '@btc-vision/uwebsockets.js'];

/** Loaded only for a configuration that uses them. */
const ON_DEMAND = ['undici', 'ioredis', 'prom-client', 'jose', 'ws', 'pino', 'jsonc-parser', 'src/front/js-engine/index.ts', 'src/server/cluster-primary.ts'];

describe('what a start loads', () => {
  test('a bridge alone loads none of the modules kept for the features that need them', async () => {
    const loaded = await startAndStop(['-p', '0', '-b', 'defaultpeer']);
    assert.ok(loaded.has('src/server/server.ts') && UWS_PACKAGES.some((name) => loaded.has(name)), `the recorder saw the start: ${[...loaded].join(' ')}`);
    assert.deepEqual(ON_DEMAND.filter((name) => loaded.has(name)), []);
  });

  test('metrics, a JWT section, an https:// route and JSON logs load prom-client, jose, undici and pino', async () => {
    writeFileSync(`${dir.path}/hs.secret`, 'a-secret-of-thirty-two-bytes-or-more\n');
    writeFileSync(`${dir.path}/status-token`, 'status-token-of-some-length-0123456789\n');
    const config = `${dir.path}/features.cfg`;
    writeFileSync(
      config,
      [
        '[core]', 'listen = 127.0.0.1', 'port = 0', 'log-format = json',
        '[status]', 'path = /status', 'metrics = /metrics', 'token-file = status-token',
        '[auth j]', 'type = jwt', 'algorithms = HS256', 'key = hs.secret',
        '[route /api]', 'to = https://127.0.0.1:9/', 'auth = j',
        '',
      ].join('\n'),
    );
    const loaded = await startAndStop([config], /"port":\d+.*"msg":"listening"/);
    assert.deepEqual(['prom-client', 'jose', 'undici', 'pino'].filter((name) => !loaded.has(name)), []);
    assert.ok(!loaded.has('ioredis') && !loaded.has('ws'));
  });

  test('websocksy forward loads nothing of the server', async () => {
    const loaded = await loadedBy(async (env) => {
      const result = spawnSync(process.execPath, [BIN, 'forward', '--help'], { env: { ...process.env, ...env }, encoding: 'utf8', timeout: 10_000 });
      assert.equal(result.status, 0, result.stderr);
    });
    assert.ok(loaded.has('src/main.ts'), `the recorder saw the run: ${[...loaded].join(' ')}`);
    const server = [...loaded].filter((name) => /^src\/(server|front|http|session|backends|framing)\//.test(name) || UWS_PACKAGES.includes(name));
    assert.deepEqual(server, []);
  });
});
