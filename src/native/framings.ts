/*
 * Framing functions across the C boundary. websocksy's registry stays the one place that knows
 * every framing function; this keeps, beside it, which C pointer stands for which definition:
 * - a C plugin's registration becomes a native definition (src/framing/native.ts);
 * - core_framing(name) answers from the registry, giving C the pointer of a native definition
 *   or a trampoline into a JS one;
 * - a pointer a C backend returns is turned back into the registered name. A function the
 *   backend never registered (a static one of its own, which the ABI allows) is registered under
 *   an invented name, `<backend>@0x<address>`, so that the core can look it up like any other.
 */
import type { FramingDefinition } from '../core/api.js';
import { log } from '../lib/log.js';
import { nativeFraming } from '../framing/native.js';
import type { FramingRegistry } from '../framing/registry.js';
import { FramingTrampolines } from '../framing/trampoline.js';
import type { NativeHost, NativeMemory, NativeRegistration } from './host.js';

export class NativeFramings {
  private readonly definitions = new Map<bigint, FramingDefinition>();
  private readonly pointers = new Map<FramingDefinition, bigint>();
  private readonly trampolines: FramingTrampolines;
  /** The ws_operation cell every C framing call shares. */
  private readonly opcode: NativeMemory;

  constructor(
    private readonly host: NativeHost,
    private readonly registry: FramingRegistry,
  ) {
    this.trampolines = new FramingTrampolines(host);
    this.opcode = host.allocate(4);
    host.setResolver((name) => {
      const definition = registry.get(name);
      return definition === undefined ? null : this.pointerFor(definition);
    });
  }

  /** Definitions for the functions a plugin registered; the caller puts them in the registry. */
  adopt(registrations: readonly NativeRegistration[]): FramingDefinition[] {
    return registrations.map(({ name, pointer }) => this.define(name, pointer));
  }

  /** The C pointer of a registered definition: its own if it is C, else a trampoline. */
  pointerFor(definition: FramingDefinition): bigint {
    let pointer = this.pointers.get(definition);
    if (pointer === undefined) {
      pointer = this.trampolines.pointerFor(definition);
      this.pointers.set(definition, pointer);
      this.definitions.set(pointer, definition);
    }
    return pointer;
  }

  /** The registered name of the function at `pointer`, which backend `backend` returned. */
  nameOf(pointer: bigint, backend: string): string {
    const known = this.definitions.get(pointer);
    if (known !== undefined && this.registry.get(known.name) === known) return known.name;
    const name = `${backend}@0x${pointer.toString(16)}`;
    if (this.registry.get(name) === undefined) {
      this.registry.register(this.define(name, pointer));
      log.info('framing function of a backend registered', { backend, framing: name });
    }
    return name;
  }

  private define(name: string, pointer: bigint): FramingDefinition {
    const definition = nativeFraming(name, this.host.framingCall(pointer), this.host, this.opcode);
    this.definitions.set(pointer, definition);
    this.pointers.set(definition, pointer);
    return definition;
  }
}
