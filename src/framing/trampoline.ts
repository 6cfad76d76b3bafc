/*
 * A JS framing function (builtin or plugin) as a C ws_framing pointer, for core_framing(): a C
 * plugin may return it from query or call it itself, as the original's framing functions could
 * call each other. Each C-side framing_data holds a small handle to the JS context of that
 * connection; the release call (data NULL) drops it. Only C code that asks for a JS function by
 * name goes through here; websocksy itself calls JS functions directly.
 */
import { WsOperation, type FramingContext, type FramingDefinition } from '../core/api.js';
import { errorMessage } from '../lib/errors.js';
import { log } from '../lib/log.js';
import type { FramingCallback, NativeHost } from '../native/host.js';

export class FramingTrampolines {
  private readonly pointers = new Map<FramingDefinition, bigint>();
  private readonly contexts = new Map<bigint, FramingContext>();
  private nextHandle = 1n;

  constructor(private readonly host: NativeHost) {}

  /** The C pointer that calls `definition`; made once per definition. */
  pointerFor(definition: FramingDefinition): bigint {
    let pointer = this.pointers.get(definition);
    if (pointer === undefined) {
      pointer = this.host.framingPointer(this.callback(definition));
      this.pointers.set(definition, pointer);
    }
    return pointer;
  }

  private callback(definition: FramingDefinition): FramingCallback {
    return (data, length, lastRead, opcode, state, config) => {
      if (state === null) return -1;
      try {
        const handle = this.host.readPointer(state);
        if (data === null) {
          this.release(definition, handle);
          this.host.writePointer(state, 0n);
          return 0;
        }
        const ctx = this.contextOf(handle, state, config);
        ctx.opcode = opcode === null ? WsOperation.binary : (this.host.readInt(opcode) as WsOperation);
        const framed = definition.frame(this.host.view(data, length), lastRead, ctx);
        if (opcode !== null) this.host.writeInt(opcode, ctx.opcode);
        return framed;
      } catch (error) {
        // An exception must not unwind through C: the caller gets a framing error instead.
        log.error('framing function called from C failed', { framing: definition.name, error: errorMessage(error) });
        return -1;
      }
    };
  }

  /** The JS context behind `handle`, made (and its handle stored in C's cell) on first use. */
  private contextOf(handle: bigint, state: bigint, config: string | null): FramingContext {
    const existing = this.contexts.get(handle);
    if (existing !== undefined) return existing;
    const ctx: FramingContext = { opcode: WsOperation.binary, state: null, config };
    const created = this.nextHandle++;
    this.contexts.set(created, ctx);
    this.host.writePointer(state, created);
    return ctx;
  }

  private release(definition: FramingDefinition, handle: bigint): void {
    const ctx = this.contexts.get(handle);
    if (ctx === undefined) return;
    this.contexts.delete(handle);
    definition.frame(null, 0, ctx);
  }
}
