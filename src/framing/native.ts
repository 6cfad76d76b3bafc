/*
 * A C framing function as a FramingDefinition. This is the hot path of C framing: one koffi call
 * per framing call, with nothing allocated per call. The peer bytes go to C in place (koffi
 * passes a typed array's memory, subarray offsets included). The ws_operation cell, the
 * framing_data cell and the NUL-terminated config live in C memory, passed as addresses (koffi's
 * cheapest argument) and read from JS through views: the opcode cell is one for all connections
 * (calls are synchronous, so they cannot interleave); the other two are made on a connection's
 * first call and freed after its release call.
 */
import { WsOperation, type FramingDefinition, type FramingFunction } from '../core/api.js';
import type { NativeFramingCall, NativeHost, NativeMemory } from '../native/host.js';

/** One connection's C memory for a C framing function. */
class NativeFramingState {
  /** The framing_data pointer, owned by the C function: read to see whether it kept state. */
  readonly cell: BigUint64Array;
  readonly cellPointer: bigint;
  readonly configPointer: bigint | null;

  constructor(
    readonly cellMemory: NativeMemory,
    /** Lives as long as the state: a plugin may hold on to the config pointer. */
    readonly config: NativeMemory | null,
  ) {
    this.cell = new BigUint64Array(cellMemory.bytes.buffer, cellMemory.bytes.byteOffset, 1);
    this.cellPointer = cellMemory.pointer;
    this.configPointer = config === null ? null : config.pointer;
  }
}

function configMemory(host: NativeHost, config: string | null): NativeMemory | null {
  if (config === null) return null;
  const text = Buffer.from(config, 'utf8');
  const memory = host.allocate(text.length + 1);
  memory.bytes.set(text);
  return memory;
}

/** The definition for C function `call`, registered as `name`. */
export function nativeFraming(name: string, call: NativeFramingCall, host: NativeHost, opcode: NativeMemory): FramingDefinition {
  const opcodeCell = new Int32Array(opcode.bytes.buffer, opcode.bytes.byteOffset, 1);
  const opcodePointer = opcode.pointer;

  function release(state: NativeFramingState): void {
    // websocksy.h: the release call is made only when the function kept some state.
    if (state.cell[0] !== 0n) call(null, 0, 0, null, state.cellPointer, state.configPointer);
    host.freeMemory(state.cellPointer);
    if (state.configPointer !== null) host.freeMemory(state.configPointer);
  }

  const frame: FramingFunction = (data, lastRead, ctx) => {
    if (data === null) {
      if (ctx.state instanceof NativeFramingState) release(ctx.state);
      ctx.state = null;
      return 0;
    }
    const state =
      ctx.state instanceof NativeFramingState ? ctx.state : (ctx.state = new NativeFramingState(host.allocate(8), configMemory(host, ctx.config)));
    opcodeCell[0] = ctx.opcode;
    const length = call(data, data.length, lastRead, opcodePointer, state.cellPointer, state.configPointer);
    ctx.opcode = opcodeCell[0] as WsOperation;
    // int64_t beyond 2^53 comes back as a BigInt: as a Number it is still far past any data.
    return typeof length === 'number' ? length : Number(length);
  };
  return { name, frame };
}
