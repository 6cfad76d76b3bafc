/*
 * `separator`: each message is the bytes up to and including the first separator, as binary.
 * An empty separator sends everything buffered (the original's behaviour). The parsed
 * separator is the per-connection state, so the config is read once per connection.
 */
import { WsOperation, type FramingDefinition, type FramingFunction } from '../core/api.js';
import { separatorFrameLength } from './find-separator.js';
import { parseSeparator } from './separator-config.js';

const frame: FramingFunction = (data, lastRead, ctx) => {
  if (data === null) {
    ctx.state = null;
    return 0;
  }
  const separator = ctx.state instanceof Uint8Array ? ctx.state : (ctx.state = parseSeparator(ctx.config));
  ctx.opcode = WsOperation.binary;
  if (separator.length === 0) return data.length;
  return separatorFrameLength(data, lastRead, separator);
};

export const separatorFraming: FramingDefinition = {
  name: 'separator',
  frame,
  checkConfig: (config) => {
    parseSeparator(config);
  },
};
