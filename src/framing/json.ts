/*
 * `json`: each complete top-level JSON value, with the blanks before it, as one text message.
 * Input that is not JSON is flushed as one binary message (the original's documented way to
 * resynchronise the stream). Unlike the original scanner, strings may hold any UTF-8 and any
 * escape, `"\\"` ends a string, and a number ends only at a byte that cannot continue it.
 */
import { WsOperation, type FramingDefinition, type FramingFunction } from '../core/api.js';
import { INVALID, JsonScanner } from './json-scanner.js';
import { refuseConfig } from './no-config.js';

const frame: FramingFunction = (data, lastRead, ctx) => {
  if (data === null) {
    ctx.state = null;
    return 0;
  }
  const scanner = ctx.state instanceof JsonScanner ? ctx.state : (ctx.state = new JsonScanner());
  const length = scanner.scan(data, lastRead);
  if (length === INVALID) {
    ctx.opcode = WsOperation.binary;
    return data.length;
  }
  ctx.opcode = WsOperation.text;
  return length;
};

export const jsonFraming: FramingDefinition = { name: 'json', frame, checkConfig: refuseConfig('json') };
