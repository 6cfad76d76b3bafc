/*
 * Loads drop-in plugins from the plugin folder (docs/plugins.md):
 * - at start-up, every framing plugin: each .so but backend_*.so (C; its constructors call
 *   core_register_framing), and each framing_*.mjs / framing_*.js (JS), in file-name order;
 * - on `-b NAME` / `backend = NAME`: backend_NAME.so, .mjs or .js, tried in that order, else the
 *   builtin backend NAME.
 * A plugin whose name matches a builtin (or an earlier plugin) replaces it, with a log line.
 * Anything wrong with a plugin is a PluginError naming the file, at start-up.
 */
import { existsSync } from 'node:fs';
import type { Backend, BackendHost, FramingDefinition } from '../core/api.js';
import { loadJsBackend, loadJsFramings } from './js-plugin.js';
import { log } from '../lib/log.js';
import { backendPluginFiles, framingPluginFiles, type PluginFolder } from './plugin-folder.js';
import { builtinBackends } from '../backends/index.js';
import { nativeBackend } from '../backends/native.js';
import type { FramingRegistry } from '../framing/registry.js';
import { NativeFramings } from '../native/framings.js';
import { nativeHost, type NativeHost } from '../native/host.js';

/** Backend names become file names: no path separators, nothing that climbs out. */
const BACKEND_NAME = /^[A-Za-z0-9_-]+$/;

interface NativeSupport {
  readonly host: NativeHost;
  readonly framings: NativeFramings;
}

export class PluginLoader {
  /** Where each registered framing function came from, for the log; builtins are absent. */
  private readonly origins = new Map<FramingDefinition, string>();
  private native: NativeSupport | null = null;

  constructor(
    private readonly folder: PluginFolder,
    private readonly registry: FramingRegistry,
    private readonly host: BackendHost,
  ) {}

  /** Registers the framing functions of every start-up plugin in the folder. */
  async loadFramingPlugins(): Promise<void> {
    for (const file of framingPluginFiles(this.folder)) {
      const definitions = file.endsWith('.so') ? await this.loadNativeFramings(file) : await loadJsFramings(file);
      if (definitions.length === 0) log.warn('plugin registered no framing function', { file });
      for (const definition of definitions) this.register(definition, file);
    }
  }

  /**
   * The backend called `name`: a plugin from the folder, else the builtin. A C plugin keeps its
   * state in the library, one per process, which connections of the running configuration may
   * still query: `reloading` refuses to load one again.
   */
  async loadBackend(name: string, reloading = false): Promise<Backend> {
    if (!BACKEND_NAME.test(name)) throw new Error(`"${name}" is not a backend name (letters, digits, _ and - only)`);
    const builtin = builtinBackends.get(name);
    const file = backendPluginFiles(this.folder, name).find((candidate) => existsSync(candidate));
    if (file === undefined) {
      if (builtin !== undefined) return builtin(this.host);
      throw new Error(
        `unknown backend: not built in (${[...builtinBackends.keys()].join(', ')}), and no backend_${name}.so, .mjs or .js in the plugin folder ${this.folder.path}`,
      );
    }
    if (reloading && file.endsWith('.so')) throw new Error(`${file} is a C plugin, loaded once per process: a restart applies a change to its options, not a reload`);
    const backend = file.endsWith('.so') ? await this.loadNativeBackend(name, file) : await loadJsBackend(file, this.host);
    log.info(builtin === undefined ? 'backend plugin loaded' : 'backend plugin replaces the builtin', { backend: name, file });
    return backend;
  }

  private async nativeSupport(): Promise<NativeSupport> {
    if (this.native === null) {
      const host = await nativeHost();
      this.native = { host, framings: new NativeFramings(host, this.registry) };
    }
    return this.native;
  }

  private async loadNativeFramings(file: string): Promise<FramingDefinition[]> {
    const { host, framings } = await this.nativeSupport();
    host.open(file);
    return framings.adopt(host.takeRegistrations());
  }

  private async loadNativeBackend(name: string, file: string): Promise<Backend> {
    const { host, framings } = await this.nativeSupport();
    const library = host.open(file);
    // A backend's constructors may register framing functions too.
    for (const definition of framings.adopt(host.takeRegistrations())) this.register(definition, file);
    return nativeBackend(name, file, library, host, framings, this.host);
  }

  private register(definition: FramingDefinition, file: string): void {
    const previous = this.registry.get(definition.name);
    this.registry.register(definition);
    this.origins.set(definition, file);
    if (previous === undefined) log.info('framing plugin loaded', { framing: definition.name, file });
    else log.info('framing plugin replaces', { framing: definition.name, file, replaced: this.origins.get(previous) ?? 'builtin' });
  }
}
