/*
 * `fixedlength`: messages of exactly N bytes, binary; fewer than N wait for more data.
 * N = 0 sends everything buffered. The original read N with strtoul, so junk meant 0 (send
 * everything) and a missing config crashed; both are config errors here.
 */
import { WsOperation, type FramingDefinition, type FramingFunction } from '../core/api.js';
import { C_INTEGER_FORMS, parseCInteger } from './c-integer.js';

function frameLength(config: string | null): number {
  if (config === null) {
    throw new Error(`fixedlength needs a framing-config: the message length in bytes, ${C_INTEGER_FORMS}`);
  }
  const length = parseCInteger(config);
  if (length === null || length < 0) {
    throw new Error(`fixedlength framing-config "${config}" is not a length; give a byte count, ${C_INTEGER_FORMS} (0 sends everything)`);
  }
  return length;
}

const frame: FramingFunction = (data, _lastRead, ctx) => {
  if (data === null) {
    ctx.state = null;
    return 0;
  }
  const length = typeof ctx.state === 'number' ? ctx.state : (ctx.state = frameLength(ctx.config));
  ctx.opcode = WsOperation.binary;
  if (length === 0) return data.length;
  return data.length >= length ? length : 0;
};

export const fixedlengthFraming: FramingDefinition = {
  name: 'fixedlength',
  frame,
  checkConfig: (config) => {
    frameLength(config);
  },
};
