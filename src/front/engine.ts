/*
 * Which WebSocket engine runs. uWebSockets.js is not on npm under its own name, and no one
 * package has a native build for every Node that websocksy supports on every C library
 * (docs/engine.md has the measurements): the newest build that loads wins, and what it is —
 * build file, uWS version, npm package — goes into the start line. Where none loads,
 * websocksy's own JS engine (js-engine/: the part of uWS's API websocksy uses, on node:http and
 * `ws`) runs, only when the user asks for it: it costs several times the CPU (JS_ENGINE_COST).
 * The `ws`-based shim that the uWebSockets.js package itself falls back to is never used: it
 * cannot upgrade a connection from a handler, so websocksy could not serve a WebSocket on it.
 */
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import type * as UwsModule from 'uWebSockets.js';
import { avoidLongSendShortcut } from '../core/send-policy.js';

export type Uws = typeof UwsModule;

export interface Engine {
  readonly uws: Uws;
  readonly native: boolean;
  /** The npm package and its version, e.g. `@btc-vision/uwebsockets.js@20.57.0`. */
  readonly source: string;
  /** The uWS release the build is of, e.g. `20.57.0`. */
  readonly version: string;
  /** The native build file, or `websocksy-js` for websocksy's JS engine. */
  readonly build: string;
  /** Native builds that did not load, each with the loader's reason (the first line of it). */
  readonly skipped: readonly string[];
  /** What is known to go wrong with websocksy on this build (docs/engine.md), or null. */
  readonly caveat: string | null;
  /**
   * False where an upgrade made inside res.cork() from outside a uWS callback may be closed by
   * that cork right after its 101 (uNetworking/uWebSockets#1928, docs/engine.md): cork() takes
   * the upgraded socket, which uWS did not move, for the HTTP response and reads a close flag
   * out of what is now WebSocket memory. There, such upgrades are made uncorked.
   */
  readonly corksLateUpgrades: boolean;
  /**
   * True where a message of 16 KiB or more, sent with nothing queued, loses its payload when the
   * kernel takes no more than its frame header (uWS 20.30; fixed upstream by
   * uNetworking/uWebSockets#1662, docs/engine.md): core/send-policy.ts keeps such messages off
   * that path there.
   */
  readonly dropsShortLongSends: boolean;
}

export class EngineError extends Error {
  override readonly name = 'EngineError';
}

/**
 * The cost of the JS fallback, as measured against the native engine in one run
 * (docs/engine.md): the warning names it so that no one runs it by accident.
 */
export const JS_ENGINE_COST = 'websocksy\'s JS engine (node:http + ws) measured 1.4-2.6x the native CPU per GB at 16 x 4 KiB, 1.8-3.9x the CPU per new connection (0.3-0.8x the connections per second) and 2.5-4.3x the memory per idle connection (BENCH_ONLY=jsengine, 5 rounds in 2 runs, 2026-12-02)';

interface Candidate {
  /** npm package name as installed in node_modules. */
  readonly packageName: string;
  /** The uWS version the package's builds are of, when its own version number is not it. */
  readonly uwsVersion: (packageVersion: string) => string;
  /** Path, relative to the package folder, of the native build for this process. */
  readonly buildPath: (file: string) => string;
  /** What is known to go wrong with websocksy on it, said at every start. */
  readonly caveat: string | null;
  /** Engine.corksLateUpgrades for its builds. */
  readonly corksLateUpgrades: boolean;
  /** Engine.dropsShortLongSends for its builds. */
  readonly dropsShortLongSends: boolean;
}

/**
 * Every native build answers a late upgrade uncorked: corked, uWS 20.30 and 20.57 alike close
 * some of them right after their 101 (uNetworking/uWebSockets#1928, docs/engine.md).
 */
const LATE_UPGRADE_CAVEAT =
  'uWS prints "Warning: uWS.HttpResponse writes must be made from within a corked callback" for each WebSocket handshake answered after ' +
  'a wait (a backend that answers later, a peer not on this host): websocksy answers those uncorked, because corked ones are closed at ' +
  'random right after their 101 (uNetworking/uWebSockets#1928); the warning is harmless, and early-upgrade avoids it (docs/engine.md)';

/** Newest first: the first that loads is used. */
const NATIVE_CANDIDATES: readonly Candidate[] = [
  // uWS v20.57 built by btc-vision's CI from their fork of uWebSockets.js; builds for Node 20, 22,
  // 24 and 25, every one linked against glibc 2.38 or later (Debian 13, Ubuntu 24.04).
  { packageName: '@btc-vision/uwebsockets.js', uwsVersion: (v) => v, buildPath: (file) => file, caveat: LATE_UPGRADE_CAVEAT, corksLateUpgrades: false, dropsShortLongSends: false },
  // uWS v20.30 built by Truffle; Node ≤ 20 only, glibc 2.27 or later (Debian 12).
  { packageName: 'uWebSockets.js', uwsVersion: (v) => v.replace(/-unofficial\.\d+$/, ''), buildPath: (file) => `binaries/${file}`, caveat: LATE_UPGRADE_CAVEAT, corksLateUpgrades: false, dropsShortLongSends: true },
];

const requireHere = createRequire(import.meta.url);

/**
 * The folder a package is installed in, found the way Node looks for it but without its entry
 * points: some of these packages export only an ES module entry, or no package.json.
 */
function packageFolder(packageName: string): string {
  for (const nodeModules of requireHere.resolve.paths(packageName) ?? []) {
    const folder = join(nodeModules, packageName);
    if (existsSync(join(folder, 'package.json'))) return folder;
  }
  throw new EngineError(`${packageName} is not installed`);
}

/** `name@version` as published: an npm alias installs a package under another name. */
function publishedAs(folder: string): { readonly source: string; readonly version: string } {
  const { name, version } = JSON.parse(readFileSync(join(folder, 'package.json'), 'utf8')) as { name: string; version: string };
  return { source: `${name}@${version}`, version };
}

function firstLine(error: unknown): string {
  return (error instanceof Error ? error.message : String(error)).split('\n')[0] ?? '';
}

function buildFile(): string {
  return `uws_${process.platform}_${process.arch}_${process.versions.modules}.node`;
}

/**
 * Stops uWS from adding its own `uWebSockets: 20` header to every answer (a 101 included): it
 * names the engine and its version to anyone who asks, which a server should not, and an
 * upgrade made outside a uWS callback goes out uncorked (Engine.corksLateUpgrades), one send per
 * piece of each header, so the four pieces of that one cost every bridged connection 1–8 %
 * of the connection rate (median 6 %, bench/README.md). Both builds have the switch; a build without it keeps
 * the header.
 */
function quiet(uws: Uws): void {
  if (typeof uws._cfg === 'function') uws._cfg('silent');
}

function loadNative(candidate: Candidate, skipped: string[]): Engine | null {
  let folder: string;
  try {
    folder = packageFolder(candidate.packageName);
  } catch (error) {
    skipped.push(firstLine(error));
    return null;
  }
  const { source, version } = publishedAs(folder);
  const file = buildFile();
  const path = join(folder, candidate.buildPath(file));
  if (!existsSync(path)) {
    skipped.push(`${source}: no build for this Node (${file})`);
    return null;
  }
  try {
    const uws = requireHere(path) as Uws;
    quiet(uws);
    return { uws, native: true, source, version: candidate.uwsVersion(version), build: file, skipped, caveat: candidate.caveat, corksLateUpgrades: candidate.corksLateUpgrades, dropsShortLongSends: candidate.dropsShortLongSends };
  } catch (error) {
    skipped.push(`${source} ${file}: ${firstLine(error)}`);
    return null;
  }
}

/** The variable that forces the JS engine where a native build would load: a switch for tests and diagnosis. */
export const ENGINE_VARIABLE = 'WEBSOCKSY_ENGINE';

/**
 * websocksy's JS engine. It implements the subset of uWS's API that websocksy calls (the types
 * of the whole module are uWS's): the one cast that makes it stand in for the native module.
 */
async function loadJsEngine(skipped: readonly string[]): Promise<Engine> {
  // Loaded only here: its modules and `ws` would add to every start on a native build.
  const jsEngine = await import('./js-engine/index.js');
  const ws = publishedAs(packageFolder('ws')).source;
  return { uws: jsEngine as unknown as Uws, native: false, source: `node:http ${process.version} + ${ws}`, version: 'emulated', build: 'websocksy-js', skipped, caveat: null, corksLateUpgrades: true, dropsShortLongSends: false };
}

/** True when WEBSOCKSY_ENGINE=js asks for the JS engine; it counts as --allow-js-engine. */
function jsEngineForced(): boolean {
  const value = process.env[ENGINE_VARIABLE];
  if (value === undefined || value === '') return false;
  if (value === 'js') return true;
  throw new EngineError(`${ENGINE_VARIABLE}=${value}: the only value it takes is js (to run on the JS engine where a native build would load)`);
}

let selected: Engine | null = null;

/** The newest native build that loads, or null with why each did not in `skipped`. */
function firstNative(skipped: string[]): Engine | null {
  for (const candidate of NATIVE_CANDIDATES) {
    const engine = loadNative(candidate, skipped);
    if (engine !== null) return engine;
  }
  return null;
}

function noNativeBuild(skipped: readonly string[]): EngineError {
  return new EngineError(
    `no native uWebSockets.js build loads on Node ${process.version} (${process.platform}-${process.arch}, glibc ${glibcVersion()}): ` +
      `${skipped.join('; ')}. Use Node 20 (glibc 2.27 or later), or Node 22 or 24 with glibc 2.38 or later (docs/engine.md), ` +
      `or start with --allow-js-engine to run on websocksy's JS engine (${JS_ENGINE_COST})`,
  );
}

/**
 * Loads the engine once: the newest native build that loads, else (only with `allowJs`) the
 * JS engine, else an EngineError that lists why each native build did not load.
 * WEBSOCKSY_ENGINE=js skips the native builds and implies `allowJs`: it is as explicit a
 * request for the JS engine as --allow-js-engine, and the start line still warns.
 */
export async function selectEngine(allowJs: boolean): Promise<Engine> {
  if (selected !== null) return selected;
  if (jsEngineForced()) return use(await loadJsEngine([`native builds not tried: ${ENGINE_VARIABLE}=js`]));
  const skipped: string[] = [];
  const native = firstNative(skipped);
  if (native !== null) return use(native);
  if (!allowJs) throw noNativeBuild(skipped);
  return use(await loadJsEngine(skipped));
}

/** Makes `chosen` the process's engine, and tells the send policy what it must work around. */
function use(chosen: Engine): Engine {
  avoidLongSendShortcut(chosen.dropsShortLongSends);
  return (selected = chosen);
}

/**
 * The engine selected at start; a process that never chose (a test, a tool) gets the native one.
 * The JS engine loads asynchronously: a process that runs on it selects it first (selectEngine).
 */
export function engine(): Engine {
  if (selected !== null) return selected;
  if (jsEngineForced()) throw new EngineError(`${ENGINE_VARIABLE}=js: the JS engine is loaded by selectEngine(), which this process never called`);
  const skipped: string[] = [];
  const native = firstNative(skipped);
  if (native === null) throw noNativeBuild(skipped);
  return use(native);
}

/** The C library's version as Node reports it, `none` where it is not glibc. */
export function glibcVersion(): string {
  const header = (process.report.getReport() as { header?: { glibcVersionRuntime?: string } }).header;
  return header?.glibcVersionRuntime ?? 'none';
}
