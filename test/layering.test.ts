/*
 * The layering the design promises (docs/architecture.md), checked on the sources: imports
 * point down the layers and never up, only the front touches uWS at run time (every uWS
 * callback enters through its guard), and connections are reset through one function.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { describe, test } from 'node:test';
import { ROOT } from './helpers/websocksy.js';

const SRC = join(ROOT, 'src');

/** Which layers each layer may import from (besides itself). */
const MAY_IMPORT: Readonly<Record<string, readonly string[]>> = {
  'main.ts': ['server', 'cli', 'config', 'metrics', 'loader', 'front', 'session', 'http', 'tunnel', 'auth', 'core', 'backends', 'framing', 'native', 'lib'],
  // A running server: its listeners, the configuration they serve, and reloads of it.
  server: ['config', 'metrics', 'front', 'session', 'http', 'tunnel', 'auth', 'cluster', 'core', 'backends', 'framing', 'lib'],
  'index.ts': ['core'],
  cli: ['lib'],
  config: ['loader', 'front', 'http', 'tunnel', 'auth', 'framing', 'core', 'lib'],
  // Prometheus metrics: observers for the front and the bridges, and what it reads when scraped.
  // (status-page: the type of the history's JSON, which the page reads.)
  metrics: ['front', 'session', 'tunnel', 'core', 'lib', 'status-page'],
  loader: ['backends', 'framing', 'native', 'core', 'lib'],
  backends: ['framing', 'native', 'core', 'lib'],
  framing: ['native', 'core', 'lib'],
  native: ['framing', 'core', 'lib'],
  front: ['session', 'http', 'tunnel', 'auth', 'cluster', 'core', 'lib'],
  session: ['http', 'cluster', 'core', 'lib'],
  http: ['tunnel', 'auth', 'cluster', 'core', 'lib'],
  cluster: ['core', 'lib'],
  // Who may connect: [auth] sections as they run; below http only because a Route names its policy.
  auth: ['core', 'lib'],
  tunnel: ['cluster', 'core', 'lib'],
  core: ['lib'],
  lib: [],
  types: [],
  // The client library (websocksy/client) runs in browsers: it shares no code with the server.
  client: [],
  // The status page's scripts run in browsers too (front/status-page.ts serves them).
  'status-page': [],
};

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return sources(path);
    return entry.name.endsWith('.ts') ? [path] : [];
  });
}

function layerOf(file: string): string {
  const parts = relative(SRC, file).split('/');
  return parts.length === 1 ? (parts[0] as string) : (parts[0] as string);
}

function importsOf(file: string): Array<{ spec: string; typeOnly: boolean }> {
  const text = readFileSync(file, 'utf8');
  const found: Array<{ spec: string; typeOnly: boolean }> = [];
  for (const match of text.matchAll(/^import\s+(type\s+)?[^;]*?from\s+'([^']+)';/gms)) {
    found.push({ spec: match[2] as string, typeOnly: match[1] !== undefined });
  }
  // Modules loaded only when needed (start-up time) obey the same layers.
  for (const match of text.matchAll(/\bimport\('([^']+)'\)/g)) found.push({ spec: match[1] as string, typeOnly: false });
  return found;
}

describe('layering', () => {
  const files = sources(SRC);

  test('every layer is known', () => {
    for (const file of files) assert.ok(layerOf(file) in MAY_IMPORT, `${relative(ROOT, file)}: unknown layer ${layerOf(file)}`);
  });

  test('imports point down the layers', () => {
    const wrong: string[] = [];
    for (const file of files) {
      const layer = layerOf(file);
      for (const { spec } of importsOf(file)) {
        if (!spec.startsWith('.')) continue;
        const target = layerOf(join(file, '..', spec));
        if (target !== layer && !(MAY_IMPORT[layer] ?? []).includes(target)) wrong.push(`${relative(ROOT, file)} imports ${spec} (${layer} → ${target})`);
      }
    }
    assert.deepEqual(wrong, []);
  });

  test('the client library and the status page import only their own modules, by relative paths ending in .js (a browser loads them as they are)', () => {
    const wrong: string[] = [];
    for (const file of files) {
      if (layerOf(file) !== 'client' && layerOf(file) !== 'status-page') continue;
      const text = readFileSync(file, 'utf8');
      for (const match of text.matchAll(/^(?:import|export)\s[^;]*?from\s+'([^']+)';/gms)) {
        const spec = match[1] as string;
        if (!/^\.\/[\w-]+\.js$/.test(spec)) wrong.push(`${relative(ROOT, file)} imports ${spec}`);
      }
    }
    assert.deepEqual(wrong, []);
  });

  // Node's own resetAndDestroy() keeps the descriptor of a socket whose end() is under way.
  test('connections are reset through lib/reset-connection.ts alone', () => {
    const calls = files.filter((file) => !file.endsWith(join('lib', 'reset-connection.ts')) && /\.resetAndDestroy\(/.test(readFileSync(file, 'utf8')));
    assert.deepEqual(calls.map((file) => relative(ROOT, file)), []);
  });

  test('only the front uses uWS at run time; the rest imports its types', () => {
    const wrong: string[] = [];
    for (const file of files) {
      if (layerOf(file) === 'front') continue;
      for (const { spec, typeOnly } of importsOf(file)) {
        if (spec === 'uWebSockets.js' && !typeOnly) wrong.push(relative(ROOT, file));
      }
    }
    assert.deepEqual(wrong, []);
  });
});
