/*
 * west's JSON configuration (`websocksy west.json`), read into websocksy's own settings so it
 * means the same thing here: the `wsts` WebSocket server becomes the [tunnel] on the main
 * listener, each `wstc` entry an [upstream], each `proxy` path a [route] (via the tunnel to
 * `ea`'s server, or to the client named `en`), and `cp` a [status] listener answering GET / with
 * the status JSON. Proxy listeners on other addresses than the main one get listeners of their
 * own. West trusted any client that named itself; websocksy adds three keys so that tunnels
 * authenticate: `wsts.identities`, `wstc[url].token` (or `token-file`) and `wstc[url].accept`.
 * West's own files, without them, run in protected mode (as Redis does without a password):
 * the server accepts name-only tunnel clients from loopback addresses only, and a `cp` that is
 * not on a loopback address answers clients on this host only.
 * docs/west.md has the whole mapping. Errors name the file, line and key: JSON.parse keeps no
 * positions, so jsonc-parser's syntax tree (in strict JSON mode) says where each key and each
 * syntax error is.
 */
import { readFileSync } from 'node:fs';
import type * as JsoncParser from 'jsonc-parser';
import type { Node as JsonNode, ParseError } from 'jsonc-parser';
import { isLoopbackAddress } from '../lib/address-list.js';
import { errorCode, errorMessage } from '../lib/errors.js';
import { parsePort } from '../lib/grammar.js';
import { log } from '../lib/log.js';
import { onDemand } from '../lib/on-demand.js';
import { printable } from '../lib/text.js';
import { parseConfigUrl } from '../lib/url.js';
import { ConfigError, type Setting, type SettingOrigin } from './settings.js';

/** jsonc-parser, loaded for a west JSON file only: an ini configuration never needs it (start-up time). */
const jsoncParser = onDemand<typeof JsoncParser>('jsonc-parser');

export interface Address {
  readonly listen: string;
  readonly port: number;
}

export interface WestConfig {
  /** Settings for the main listener and the tunnel roles, as an ini file would give them. */
  readonly settings: Setting[];
  /** Proxy listeners on other addresses: their route settings. */
  readonly extraListeners: Array<Address & { readonly settings: Setting[] }>;
}

/** west's default proxy port (west_config.py). */
export const WEST_PROXY_PORT = 18889;

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
type JsonObject = { [key: string]: Json };

const isObject = (value: Json | undefined): value is JsonObject => typeof value === 'object' && value !== null && !Array.isArray(value);

/** Strict JSON: what JSON.parse accepts, and nothing more. */
const STRICT_JSON = { disallowComments: true, allowTrailingComma: false, allowEmptyContent: false } as const;

/** The 1-based line of a character offset. */
function lineAt(text: string, offset: number): number {
  let line = 1;
  for (let at = text.indexOf('\n'); at >= 0 && at < offset; at = text.indexOf('\n', at + 1)) line++;
  return line;
}

class Reader {
  constructor(
    readonly file: string,
    private readonly text: string,
    private readonly tree: JsonNode,
  ) {}

  /**
   * The line of the path's last key, or of its nearest parent that exists (a missing key is
   * reported where its object starts). Path parts that are not keys ('top level') find no node.
   */
  origin(path: readonly string[]): SettingOrigin {
    let node: JsonNode | undefined;
    for (let depth = path.length; node === undefined && depth >= 0; depth--) node = jsoncParser().findNodeAtLocation(this.tree, path.slice(0, depth));
    const at = node === undefined ? 0 : node.parent?.type === 'property' ? node.parent.offset : node.offset;
    return { file: this.file, line: lineAt(this.text, at), section: path.slice(0, -1).join('.') || 'top' };
  }

  error(path: readonly string[], message: string): ConfigError {
    return new ConfigError(`${path.map((part, i) => (i === 0 ? part : `[${JSON.stringify(part)}]`)).join('')}: ${message}`, this.origin(path));
  }

  object(value: Json | undefined, path: readonly string[]): JsonObject {
    if (!isObject(value)) throw this.error(path, 'must be an object');
    return value;
  }

  string(object: JsonObject, key: string, path: readonly string[], required: boolean): string | null {
    const value = object[key];
    if (value === undefined) {
      if (required) throw this.error([...path, key], 'missing (required)');
      return null;
    }
    if (typeof value !== 'string' || value.trim() === '') throw this.error([...path, key], 'must be a non-empty string');
    return value.trim();
  }

  onlyKeys(object: JsonObject, known: readonly string[], path: readonly string[]): void {
    for (const key of Object.keys(object)) {
      if (!known.includes(key)) throw this.error([...path, key], `unknown key (known: ${known.join(', ')})`);
    }
  }
}

/** west's inet_string(): `http://host:port`, `host:port`, `[v6]:port`, `:port` (any address). */
export function parseAddress(text: string, defaultPort: number | null): Address {
  const bare = text.replace(/^[a-z]+:\/\//i, '').replace(/\/.*$/, '');
  const match = /^(\[[^\]]*\]|[^:]*)(?::(\d+))?$/.exec(bare);
  const host = match?.[1] ?? '';
  const portText = match?.[2];
  if (match === null || (portText === undefined && defaultPort === null)) throw new Error(`"${text}" is not host:port`);
  const port = portText === undefined ? (defaultPort as number) : parsePort(portText, { allowZero: true });
  const listen = host.replace(/^\[(.*)\]$/, '$1');
  return { listen: listen === '' ? '::' : listen, port };
}

/** A URL whose host is on this host's loopback; false for one that does not parse (applyUpstream says why). */
function isLoopbackUrl(url: string): boolean {
  try {
    return isLoopbackAddress(new URL(url).hostname.replace(/^\[(.*)\]$/, '$1'));
  } catch {
    return false;
  }
}

const sameAddress = (a: Address, b: Address): boolean => a.listen === b.listen && a.port === b.port;

/** An upstream label for a wstc URL: section names hold no URL characters. */
function labelOf(url: string): string {
  return url.replace(/^[a-z]+:\/\//i, '').replace(/[^\w.-]+/g, '_').replace(/_+$/, '');
}

/**
 * A syntax error at the line jsonc-parser found it on (else V8's "at position N", else the
 * end); V8's message loses its position and its copy of the text, which may span lines.
 */
function notJson(file: string, text: string, offset: number | undefined, message: string): ConfigError {
  const position = /at position (\d+)/.exec(message)?.[1];
  const at = offset ?? (position === undefined ? text.length : Number(position));
  const reason = message.replace(/, (?:\.\.\.)?".*" is not valid JSON$/s, '').replace(/(?: in JSON)? at position \d+.*$/s, '');
  return new ConfigError(`not JSON: ${printable(reason)}`, { file, line: lineAt(text, at) });
}

export function readWestConfig(file: string): WestConfig {
  let text: string;
  try {
    text = readFileSync(file, 'utf8').replace(/^\uFEFF/, '');
  } catch (error) {
    throw new ConfigError(`cannot read config file ${file}: ${errorCode(error)}`);
  }
  const syntaxErrors: ParseError[] = [];
  const tree = jsoncParser().parseTree(text, syntaxErrors, STRICT_JSON);
  let json: Json;
  try {
    json = JSON.parse(text) as Json;
  } catch (error) {
    throw notJson(file, text, syntaxErrors[0]?.offset, errorMessage(error));
  }
  if (tree === undefined) throw notJson(file, text, syntaxErrors[0]?.offset, 'no JSON value');
  const reader = new Reader(file, text, tree);
  const top = reader.object(json, ['top level']);
  for (const key of Object.keys(top)) {
    if (!['west', 'wsts', 'wstc', 'proxy'].includes(key)) throw reader.error([key], 'unknown object (known: west, wsts, wstc, proxy)');
  }
  const settings: Setting[] = [];
  const add = (scope: Setting['scope'], section: string, key: string, value: string, path: readonly string[], into = settings): void => {
    into.push({ scope, key, value, origin: { ...reader.origin(path), section } });
  };
  const address = (value: string, defaultPort: number | null, path: readonly string[]): Address => {
    try {
      return parseAddress(value, defaultPort);
    } catch (error) {
      throw reader.error(path, (error as Error).message);
    }
  };

  const west = reader.object(top['west'], ['west']);
  reader.onlyKeys(west, ['nm', 'cp'], ['west']);
  const name = reader.string(west, 'nm', ['west'], true) as string;
  const cpText = reader.string(west, 'cp', ['west'], false);
  const cp = cpText === null ? null : address(cpText, null, ['west', 'cp']);

  let main: Address | null = null;
  let hasServer = false;
  if (top['wsts'] !== undefined) {
    const wsts = reader.object(top['wsts'], ['wsts']);
    reader.onlyKeys(wsts, ['sp', 'ca', 'identities'], ['wsts']);
    const sp = reader.string(wsts, 'sp', ['wsts'], true) as string;
    let url: URL;
    try {
      url = parseConfigUrl(sp, { schemes: ['ws:'] });
    } catch (error) {
      throw reader.error(['wsts', 'sp'], errorMessage(error));
    }
    main = address(url.host, null, ['wsts', 'sp']);
    if (wsts['ca'] !== undefined) log.warn('west config: wsts.ca is ignored; the identities file says who may connect', { file });
    const identities = reader.string(wsts, 'identities', ['wsts'], false);
    add('tunnel', 'tunnel', 'path', url.pathname, ['wsts', 'sp']);
    if (identities !== null) add('tunnel', 'tunnel', 'identities', identities, ['wsts', 'identities']);
    else add('tunnel', 'tunnel', 'anonymous', 'loopback', ['wsts']);
    hasServer = true;
  }

  const upstreams = new Map<string, string>();
  if (top['wstc'] !== undefined) {
    const wstc = reader.object(top['wstc'], ['wstc']);
    for (const [url, value] of Object.entries(wstc)) {
      const path = ['wstc', url];
      const entry = reader.object(value, path);
      reader.onlyKeys(entry, ['nm', 'ee', 'so', 'token', 'token-file', 'accept'], path);
      const ee = reader.string(entry, 'ee', path, false);
      if (ee !== null && ee !== 'yes' && ee !== 'no') throw reader.error([...path, 'ee'], 'must be "yes" or "no"');
      const section = `upstream ${labelOf(url)}`;
      upstreams.set(url, labelOf(url));
      add('upstream', section, 'url', url, path);
      add('upstream', section, 'name', reader.string(entry, 'nm', path, false) ?? name, [...path, 'nm']);
      const token = reader.string(entry, 'token', path, false);
      const tokenFile = reader.string(entry, 'token-file', path, false);
      // Without either, the client names itself only, as west's did: a server in protected mode
      // accepts that from its own host alone. To such a server on this host, the client is what
      // west's was: it dials whatever the server's routes name, unless `accept` says otherwise.
      if (token === null && tokenFile === null) {
        add('upstream', section, 'anonymous', 'yes', path);
        if (entry['accept'] === undefined && isLoopbackUrl(url)) add('upstream', section, 'accept', '*:1-65535', path);
      }
      if (token !== null) add('upstream', section, 'token', token, [...path, 'token']);
      if (tokenFile !== null) add('upstream', section, 'token-file', tokenFile, [...path, 'token-file']);
      const accept = entry['accept'];
      if (accept !== undefined) {
        if (!Array.isArray(accept) || !accept.every((rule) => typeof rule === 'string')) throw reader.error([...path, 'accept'], 'must be a list of "host:port" strings');
        if (accept.length > 0) add('upstream', section, 'accept', accept.join(','), [...path, 'accept']);
      }
    }
  }

  const byAddress: Array<{ address: Address; settings: Setting[] }> = [];
  if (top['proxy'] !== undefined) {
    const proxy = reader.object(top['proxy'], ['proxy']);
    for (const [where, value] of Object.entries(proxy)) {
      const path = ['proxy', where];
      const entry = reader.object(value, path);
      const at = address(where, WEST_PROXY_PORT, path);
      main ??= at;
      let group = byAddress.find((candidate) => sameAddress(candidate.address, at));
      if (group === undefined) {
        group = { address: at, settings: sameAddress(at, main) ? settings : [] };
        byAddress.push(group);
      }
      const ea = reader.string(entry, 'ea', path, false);
      const en = reader.string(entry, 'en', path, false);
      if ((ea === null) === (en === null)) throw reader.error([...path, 'ea'], 'exactly one of "ea" (a wstc URL) or "en" (a client name) is required');
      let via: string;
      if (ea !== null) {
        const label = upstreams.get(ea);
        if (label === undefined) throw reader.error([...path, 'ea'], `"${ea}" has no wstc entry (websocksy needs its token there)`);
        via = label;
      } else {
        if (!hasServer) throw reader.error([...path, 'en'], 'names a client of this west server, but there is no wsts');
        via = en as string;
      }
      for (const [incoming, route] of Object.entries(entry)) {
        if (incoming === 'ea' || incoming === 'en') continue;
        const routePath = [...path, incoming];
        if (!incoming.startsWith('/')) throw reader.error(routePath, 'unknown key (known: ea, en, and paths starting with /)');
        const target = reader.object(route, routePath);
        reader.onlyKeys(target, ['ou', 'ca'], routePath);
        const ou = reader.string(target, 'ou', routePath, true) as string;
        const section = `route ${incoming}`;
        add('route', section, 'to', ou, [...routePath, 'ou'], group.settings);
        add('route', section, 'via', via, [...path, ea !== null ? 'ea' : 'en'], group.settings);
      }
    }
  }

  const mainAddress = main ?? cp ?? { listen: '127.0.0.1', port: 0 };
  add('core', 'core', 'listen', mainAddress.listen, ['west']);
  add('core', 'core', 'port', String(mainAddress.port), ['west']);
  if (cp !== null) {
    const controlIsMain = sameAddress(cp, mainAddress);
    add('status', 'status', 'path', '/', ['west', 'cp']);
    if (!controlIsMain) {
      add('status', 'status', 'listen', cp.listen, ['west', 'cp']);
      add('status', 'status', 'port', String(cp.port), ['west', 'cp']);
    }
    // west's cp has no password: off a loopback listener of its own, it answers this host only.
    if (controlIsMain || !isLoopbackAddress(cp.listen)) add('status', 'status', 'clients', 'loopback', ['west', 'cp']);
  }
  return {
    settings,
    extraListeners: byAddress.filter((group) => group.settings !== settings).map((group) => ({ ...group.address, settings: group.settings })),
  };
}
