/*
 * `auto`: everything buffered goes out as one message; text when it is valid UTF-8, else binary.
 * The original used a lenient structural check that let overlong forms and surrogates through
 * as text; the strict check keeps text frames valid UTF-8, which RFC 6455 requires.
 * A character split across two reads makes both messages binary: frames follow the reads.
 */
import { isUtf8 } from 'node:buffer';
import { WsOperation, type FramingDefinition, type FramingFunction } from '../core/api.js';
import { refuseConfig } from './no-config.js';

const frame: FramingFunction = (data, _lastRead, ctx) => {
  if (data === null) {
    ctx.state = null;
    return 0;
  }
  ctx.opcode = isUtf8(data) ? WsOperation.text : WsOperation.binary;
  return data.length;
};

export const autoFraming: FramingDefinition = { name: 'auto', frame, checkConfig: refuseConfig('auto') };
