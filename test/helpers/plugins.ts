/*
 * Plugin folders for the tests: the C plugins `make` builds (build/plugins), the test plugins
 * (build/test-plugins), and temp folders holding just the plugins one test wants, so that a
 * plugin meant to fail never stops another test's server.
 */
import { symlinkSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import type { BackendHost } from '../../src/core/api.js';
import { PluginLoader } from '../../src/loader/plugin-loader.js';
import { createFramingRegistry } from '../../src/framing/index.js';
import type { FramingRegistry } from '../../src/framing/registry.js';
import { tempDir } from './peers.js';
import { ROOT } from './websocksy.js';

export const BUILT_PLUGINS = join(ROOT, 'build/plugins');
const TEST_PLUGINS = join(ROOT, 'build/test-plugins');

export function testPlugin(name: string): string {
  return join(TEST_PLUGINS, name);
}

/**
 * A temp plugin folder with links to `files` and the JS sources in `scripts` (file name →
 * module text). Remove it when done.
 */
export function pluginFolder(files: readonly string[], scripts: Readonly<Record<string, string>> = {}): { path: string; remove(): void } {
  const folder = tempDir('websocksy-plugins-');
  for (const file of files) symlinkSync(file, join(folder.path, basename(file)));
  for (const [name, text] of Object.entries(scripts)) writeFileSync(join(folder.path, name), text);
  return folder;
}

/** Loads the framing plugins of `folder` into a registry of their own (builtins first), here. */
export async function loadFramings(folder: string): Promise<FramingRegistry> {
  const registry = createFramingRegistry();
  const host: BackendHost = { framing: (name) => registry.get(name), warn: () => undefined };
  await new PluginLoader({ path: folder, explicit: true }, registry, host).loadFramingPlugins();
  return registry;
}
