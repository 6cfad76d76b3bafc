/*
 * A C framing function as a FramingDefinition. This is the hot path of C framing: one koffi call
 * per framing call, with nothing allocated per call. The peer bytes go to C in place (koffi
 * passes a typed array's memory, subarray offsets included); the opcode cell is one Int32Array
 * shared by every connection (calls are synchronous, so they cannot interleave); the
 * framing_data cell and the NUL-terminated config are made once per connection, on its first call.
 */
import { WsOperation, type FramingDefinition, type FramingFunction } from '../core/api.js';
import type { NativeFramingCall } from '../native/host.js';

/** The ws_operation every call reads and may write. */
const opcodeCell = new Int32Array(1);

/** One connection's state of a C framing function. */
class NativeFramingState {
  /** The framing_data pointer, owned by the C function. */
  readonly cell = new BigUint64Array(1);

  constructor(
    /** Kept for as long as the state: a plugin may hold on to the config pointer. */
    readonly config: Uint8Array | null,
  ) {}
}

function encodeConfig(config: string | null): Uint8Array | null {
  return config === null ? null : Buffer.from(`${config}\0`, 'utf8');
}

/** The definition for C function `call`, registered as `name`. */
export function nativeFraming(name: string, call: NativeFramingCall): FramingDefinition {
  const frame: FramingFunction = (data, lastRead, ctx) => {
    if (data === null) {
      const state = ctx.state;
      // websocksy.h: the release call is made only when the function kept some state.
      if (state instanceof NativeFramingState && state.cell[0] !== 0n) call(null, 0, 0, null, state.cell, state.config);
      ctx.state = null;
      return 0;
    }
    const state = ctx.state instanceof NativeFramingState ? ctx.state : (ctx.state = new NativeFramingState(encodeConfig(ctx.config)));
    opcodeCell[0] = ctx.opcode;
    const length = call(data, data.length, lastRead, opcodeCell, state.cell, state.config);
    ctx.opcode = opcodeCell[0] as WsOperation;
    // int64_t beyond 2^53 comes back as a BigInt: as a Number it is still far past any data.
    return typeof length === 'number' ? length : Number(length);
  };
  return { name, frame };
}
