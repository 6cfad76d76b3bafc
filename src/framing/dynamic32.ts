/*
 * `dynamic32`: length-prefixed messages. The unsigned 32-bit field at `offset` gives the
 * message length as offset + 4 + static + field, in plain numbers (the original wrapped at
 * 2^32). Binary. A length shorter than its own header cannot be framed: -1.
 */
import { WsOperation, type FramingDefinition, type FramingFunction } from '../core/api.js';
import { parseDynamic32, type Dynamic32Config } from './dynamic32-config.js';

/** The u32 at `at`; the caller has checked that 4 bytes are there. */
function readU32(data: Uint8Array, at: number, bigEndian: boolean): number {
  const b0 = data[at] as number;
  const b1 = data[at + 1] as number;
  const b2 = data[at + 2] as number;
  const b3 = data[at + 3] as number;
  // Multiplying the top byte keeps the value unsigned; `<< 24` would make it negative.
  return bigEndian
    ? b0 * 0x1000000 + ((b1 << 16) | (b2 << 8) | b3)
    : b3 * 0x1000000 + ((b2 << 16) | (b1 << 8) | b0);
}

const frame: FramingFunction = (data, _lastRead, ctx) => {
  if (data === null) {
    ctx.state = null;
    return 0;
  }
  // The state is only ever null or the parsed config.
  const config = (ctx.state as Dynamic32Config | null) ?? (ctx.state = parseDynamic32(ctx.config));
  ctx.opcode = WsOperation.binary;
  const header = config.offset + 4;
  if (data.length < header) return 0;
  const length = header + config.extra + readU32(data, config.offset, config.bigEndian);
  if (length < header) return -1;
  return data.length >= length ? length : 0;
};

export const dynamic32Framing: FramingDefinition = {
  name: 'dynamic32',
  frame,
  checkConfig: (config) => {
    parseDynamic32(config);
  },
};
