/*
 * A C backend plugin (backend_NAME.so, websocksy.h's backend symbols) as a Backend.
 * init and query are required, configure and cleanup optional; init must report API version 1.
 * query runs synchronously (C cannot await); its answer is read into a PeerInfo and the strings
 * in it are freed with libc's free(), as the ABI says. A NULL host means "no peer" (404); an
 * answer websocksy cannot use (unknown transport, a framing config its function rejects) refuses
 * that one upgrade with 502.
 */
import { WEBSOCKSY_API_VERSION, type Backend, type BackendHost, type PeerInfo, type PeerQuery } from '../core/api.js';
import { errorMessage } from '../lib/errors.js';
import { badAnswer, checkFramingConfig } from '../core/peer-answer.js';
import { PluginError } from '../core/plugin-error.js';
import type { NativeFramings } from '../native/framings.js';
import type { NativeHost, NativeLibrary, RawPeerInfo } from '../native/host.js';

/** websocksy.h's peer_transport values that name a scheme; fifo_tx (3) and fifo_rx (4) have none. */
const SCHEMES: ReadonlyMap<number, string> = new Map([
  [1, 'tcp'],
  [2, 'udp'],
  [5, 'unix'],
  [6, 'unix-dgram'],
]);
const TRANSPORT_DETECT = 0;

/** koffi's message for a symbol a library does not export. */
const MISSING_SYMBOL = /^Cannot find (?:function|symbol) /;

function required<T>(file: string, symbol: string, lookUp: () => T): T {
  try {
    return lookUp();
  } catch (error) {
    throw new PluginError(file, `lacks the required symbol "${symbol}" (${errorMessage(error)})`);
  }
}

function optional<T>(lookUp: () => T): T | undefined {
  try {
    return lookUp();
  } catch (error) {
    if (MISSING_SYMBOL.test(errorMessage(error))) return undefined;
    throw error;
  }
}

/** Header names as browsers send them (uWS gives them lower-cased): original plugins compare them
 * with strcmp against spellings such as "Cookie". */
function titleCase(name: string): string {
  return name.replace(/(^|-)([a-z])/g, (_match, dash: string, letter: string) => dash + letter.toUpperCase());
}

/** The peer address a C answer names: with an explicit transport, `host` carries no scheme. */
function peerHost(transport: number, host: string, port: string | undefined, backend: string): string {
  if (transport === TRANSPORT_DETECT) return host;
  const scheme = SCHEMES.get(transport);
  if (scheme === undefined) {
    throw badAnswer(backend, transport === 3 || transport === 4 ? `fifo transport ${transport}, which websocksy does not support` : `unknown transport ${transport}`);
  }
  // A bare IPv6 literal with a separate port needs brackets in websocksy's address syntax.
  const bracketed = port !== undefined && host.includes(':') && !host.startsWith('[');
  return `${scheme}://${bracketed ? `[${host}]` : host}`;
}

export function nativeBackend(name: string, file: string, library: NativeLibrary, native: NativeHost, framings: NativeFramings, host: BackendHost): Backend {
  const init = required(file, 'init', () => library.func('uint64_t init(void)') as () => number | bigint);
  const queryPointer = required(file, 'query', () => library.symbol('query') as bigint);
  const configure = optional(() => library.func('uint64_t configure(const char *key, const char *value)') as (key: string, value: string) => number | bigint);
  const cleanup = optional(() => library.func('void cleanup(void)') as () => void);

  const version = init();
  if (Number(version) !== WEBSOCKSY_API_VERSION) {
    throw new PluginError(file, `init() reports API version ${String(version)}, but this websocksy speaks version ${WEBSOCKSY_API_VERSION}`);
  }

  function toPeerInfo(raw: RawPeerInfo, request: PeerQuery): PeerInfo | null {
    if (raw.host === null) return null;
    const port = raw.port === null ? undefined : native.string(raw.port);
    const framing = raw.framing === null ? undefined : framings.nameOf(raw.framing, name);
    const framingConfig = raw.framing_config === null ? undefined : native.string(raw.framing_config);
    const protocol = Number(raw.protocol);
    const info: PeerInfo = {
      host: peerHost(raw.transport, native.string(raw.host), port, name),
      ...(port === undefined ? {} : { port }),
      ...(framing === undefined ? {} : { framing }),
      ...(framingConfig === undefined ? {} : { framingConfig }),
      // protocols.length is websocksy.h's "none"; the core refuses indexes beyond it.
      ...(protocol === request.protocols.length ? {} : { protocol }),
    };
    checkFramingConfig(info, (framingName) => host.framing(framingName), name);
    return info;
  }

  function query(request: PeerQuery): PeerInfo | null {
    const headers = request.headers.map((header) => ({ tag: titleCase(header.name), value: header.value }));
    const key = request.headers.find((header) => header.name === 'sec-websocket-key')?.value ?? '';
    const raw = native.query(queryPointer, request.endpoint, request.protocols, headers, key);
    try {
      return toPeerInfo(raw, request);
    } finally {
      for (const pointer of [raw.host, raw.port, raw.framing_config]) if (pointer !== null) native.free(pointer);
    }
  }

  return {
    name,
    query,
    ...(configure === undefined
      ? {}
      : {
          configure: (key: string, value: string) => {
            const status = configure(key, value);
            if (Number(status) !== 0) throw new Error(`configure returned ${String(status)} (the plugin may have said why above)`);
          },
        }),
    ...(cleanup === undefined ? {} : { cleanup }),
  };
}
