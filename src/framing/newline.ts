/*
 * `newline`: each message is a line including its line end, as text when the line is valid
 * UTF-8 and binary otherwise. The original treated unknown configs as crlf silently and crashed
 * on a missing one; here a missing config means crlf and anything unknown is refused.
 */
import { isUtf8 } from 'node:buffer';
import { WsOperation, type FramingDefinition, type FramingFunction } from '../core/api.js';
import { separatorFrameLength } from './find-separator.js';

const LINE_ENDS = new Map<string, Uint8Array>([
  ['crlf', Uint8Array.of(0x0d, 0x0a)],
  ['lfcr', Uint8Array.of(0x0a, 0x0d)],
  ['lf', Uint8Array.of(0x0a)],
  ['cr', Uint8Array.of(0x0d)],
]);

function lineEnd(config: string | null): Uint8Array {
  const separator = LINE_ENDS.get(config ?? 'crlf');
  if (separator === undefined) {
    throw new Error(`newline framing-config "${String(config)}" is not a line end; use one of crlf (the default), lfcr, lf, cr`);
  }
  return separator;
}

const frame: FramingFunction = (data, lastRead, ctx) => {
  if (data === null) {
    ctx.state = null;
    return 0;
  }
  // The state is one of the shared LINE_ENDS arrays: looked up once, never copied.
  const separator = ctx.state instanceof Uint8Array ? ctx.state : (ctx.state = lineEnd(ctx.config));
  const length = separatorFrameLength(data, lastRead, separator);
  if (length > 0) {
    // Set for every frame: the opcode must not carry over from the previous line.
    ctx.opcode = isUtf8(length === data.length ? data : data.subarray(0, length)) ? WsOperation.text : WsOperation.binary;
  }
  return length;
};

export const newlineFraming: FramingDefinition = {
  name: 'newline',
  frame,
  checkConfig: (config) => {
    lineEnd(config);
  },
};
