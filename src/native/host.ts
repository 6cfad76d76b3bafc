/*
 * websocksy's side of the C plugin ABI, through koffi: loads the host library (src/native/host.c)
 * globally so that plugins find core_register_framing and core_framing, opens plugins, and holds
 * the koffi declarations of websocksy.h's types. Everything koffi returns is typed here, so no
 * untyped value leaves this module. koffi is imported only when a C plugin is actually used.
 */
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type Koffi from 'koffi';
import type { LibraryHandle, TypeObject } from 'koffi';
import { PluginError } from '../core/plugin-error.js';
import { errorMessage } from '../lib/errors.js';

type KoffiModule = typeof Koffi;
export type NativeLibrary = LibraryHandle;

/** Built by `make` from src/native/host.c; the npm package ships it built, with its source. */
const INSTALLATION = fileURLToPath(new URL('../../../', import.meta.url));
const HOST_LIBRARY = `${INSTALLATION}build/libwebsocksy-host.so`;
const HOST_BUILD = `cc -O2 -shared -fPIC -I${INSTALLATION}plugins -o ${HOST_LIBRARY} ${INSTALLATION}src/native/host.c`;

/**
 * A C framing function called from JS. `data` goes to C as a pointer to the typed array's own
 * memory, without a copy; `opcode`, `state` and `config` are addresses of C memory (see
 * NativeMemory), which koffi passes faster than typed arrays.
 */
export type NativeFramingCall = (
  data: Uint8Array | null,
  length: number,
  lastRead: number,
  opcode: bigint | null,
  state: bigint,
  config: bigint | null,
) => number | bigint;

/** C memory that does not move until freed, and a JS view that reads and writes it in place. */
export interface NativeMemory {
  readonly pointer: bigint;
  readonly bytes: Uint8Array;
}

/** A JS function called by C as a ws_framing: pointers arrive as addresses, `config` as text. */
export type FramingCallback = (
  data: bigint | null,
  length: number,
  lastRead: number,
  opcode: bigint | null,
  state: bigint | null,
  config: string | null,
) => number;

/** ws_peer_info as C returned it: the strings are still C's, to be read and then freed. */
export interface RawPeerInfo {
  readonly transport: number;
  readonly host: bigint | null;
  readonly port: bigint | null;
  readonly framing: bigint | null;
  readonly framing_config: bigint | null;
  readonly protocol: number | bigint;
}

interface QueryHeader {
  readonly tag: string;
  readonly value: string;
}

/** A framing function a plugin registered while it was being loaded. */
export interface NativeRegistration {
  readonly name: string;
  readonly pointer: bigint;
}

export interface NativeHost {
  /** dlopen()s a plugin; registrations its constructors made are then in takeRegistrations(). */
  open(file: string): NativeLibrary;
  /** The framing functions registered since the last call. */
  takeRegistrations(): NativeRegistration[];
  /** Answers core_framing() for names no plugin constructor has just registered. */
  setResolver(resolve: (name: string) => bigint | null): void;
  framingCall(pointer: bigint): NativeFramingCall;
  /** A ws_framing pointer that calls `callback`; valid for the life of the process. */
  framingPointer(callback: FramingCallback): bigint;
  /** Calls a backend's query (its address) with the request, through the host library. */
  query(query: bigint, endpoint: string, protocols: readonly string[], headers: readonly QueryHeader[], key: string): RawPeerInfo;
  /** A C string's text; C owns the memory. */
  string(pointer: bigint): string;
  /** libc's free(), for the strings a backend returns. */
  free(pointer: bigint): void;
  /** Zeroed C memory of `size` bytes; free it with freeMemory(). */
  allocate(size: number): NativeMemory;
  freeMemory(pointer: bigint): void;
  /** A view of C memory; only valid while C says it is. */
  view(pointer: bigint, length: number): Uint8Array;
  readInt(pointer: bigint): number;
  writeInt(pointer: bigint, value: number): void;
  readPointer(pointer: bigint): bigint;
  writePointer(pointer: bigint, value: bigint): void;
}

function declare(koffi: KoffiModule): { framing: TypeObject; callback: TypeObject; resolver: TypeObject } {
  koffi.struct('websocksy_http_header', { tag: 'const char *', value: 'const char *' });
  // Pointers stay addresses (void *) so that websocksy can free the strings after reading them.
  koffi.struct('websocksy_peer_info', {
    transport: 'int',
    host: 'void *',
    port: 'void *',
    framing: 'void *',
    framing_config: 'void *',
    protocol: 'size_t',
  });
  return {
    // Two spellings of ws_framing, the same in C: calls pass the cells and the config as
    // addresses of memory made once per connection; callbacks get the config as text.
    framing: koffi.proto('int64_t websocksy_framing(uint8_t *data, size_t length, size_t last_read, void *opcode, void *framing_data, void *config)'),
    callback: koffi.proto('int64_t websocksy_framing_callback(void *data, size_t length, size_t last_read, void *opcode, void *framing_data, const char *config)'),
    resolver: koffi.proto('void *websocksy_framing_resolver(const char *name)'),
  };
}

function openLibrary(koffi: KoffiModule, file: string, global: boolean): NativeLibrary {
  try {
    return koffi.load(file, { global });
  } catch (error) {
    throw new PluginError(file, `cannot load: ${errorMessage(error)}`);
  }
}

async function createHost(): Promise<NativeHost> {
  if (!existsSync(HOST_LIBRARY)) {
    throw new PluginError(HOST_LIBRARY, `the host library for C plugins is missing; build it with: ${HOST_BUILD} (make does this in a checkout)`);
  }
  const koffi = (await import('koffi')).default;
  const types = declare(koffi);
  const host = openLibrary(koffi, HOST_LIBRARY, true);
  const pending = host.func('size_t websocksy_host_pending(void)') as () => number;
  const pendingName = host.func('const char *websocksy_host_pending_name(size_t index)') as (index: number) => string;
  const pendingFunc = host.func('void *websocksy_host_pending_func(size_t index)') as (index: number) => bigint;
  const clearPending = host.func('void websocksy_host_clear_pending(void)') as () => void;
  const setResolver = host.func('void websocksy_host_set_resolver(websocksy_framing_resolver *resolver)') as (resolver: bigint) => void;
  const query = host.func(
    'websocksy_peer_info websocksy_host_query(void *query, const char *endpoint, size_t protocols, const char **protocol, size_t headers, websocksy_http_header *header, const char *key)',
  ) as (query: bigint, endpoint: string, protocols: number, protocol: (string | null)[], headers: number, header: QueryHeader[], key: string) => RawPeerInfo;
  // Looked up through the host library's handle: dlsym finds free in the libc it links.
  const free = host.func('void free(void *pointer)') as (pointer: bigint) => void;
  const pointerType = koffi.pointer(types.callback);
  // koffi unloads a library once nothing references its handle, but the function pointers
  // plugins registered outlive any handle: every plugin stays loaded for the life of the process.
  const opened: NativeLibrary[] = [host];

  return {
    open: (file) => {
      const library = openLibrary(koffi, file, false);
      opened.push(library);
      return library;
    },
    takeRegistrations: () => {
      const registrations: NativeRegistration[] = [];
      const count = pending();
      for (let index = 0; index < count; index++) registrations.push({ name: pendingName(index), pointer: pendingFunc(index) });
      clearPending();
      return registrations;
    },
    setResolver: (resolve) => {
      setResolver(koffi.register(resolve, koffi.pointer(types.resolver)));
    },
    framingCall: (pointer) => koffi.decode(pointer, types.framing) as NativeFramingCall,
    framingPointer: (callback) => koffi.register(callback, pointerType),
    // A NULL after the names, for plugins that walk the list to its end.
    query: (queryPointer, endpoint, protocols, headers, key) =>
      query(queryPointer, endpoint, protocols.length, [...protocols, null], headers.length, [...headers], key),
    string: (pointer) => koffi.decode.string(pointer),
    free,
    allocate: (size) => {
      const pointer = koffi.alloc('uint8_t', size) as bigint;
      const bytes = new Uint8Array(koffi.view(pointer, size));
      bytes.fill(0);
      return { pointer, bytes };
    },
    freeMemory: (pointer) => koffi.free(pointer),
    view: (pointer, length) => (length === 0 ? new Uint8Array(0) : new Uint8Array(koffi.view(pointer, length))),
    readInt: (pointer) => koffi.decode.int(pointer),
    writeInt: (pointer, value) => koffi.encode(pointer, 'int', value),
    readPointer: (pointer) => BigInt(koffi.decode.uint64(pointer)),
    writePointer: (pointer, value) => koffi.encode(pointer, 'uint64_t', value),
  };
}

let shared: Promise<NativeHost> | null = null;

/** The process's one host: the host library is loaded once, on first use. */
export function nativeHost(): Promise<NativeHost> {
  shared ??= createHost();
  return shared;
}
