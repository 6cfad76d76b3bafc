/* `binary`: everything buffered goes out as one binary message. */
import { WsOperation, type FramingDefinition, type FramingFunction } from '../core/api.js';
import { refuseConfig } from './no-config.js';

const frame: FramingFunction = (data, _lastRead, ctx) => {
  if (data === null) {
    ctx.state = null;
    return 0;
  }
  ctx.opcode = WsOperation.binary;
  return data.length;
};

export const binaryFraming: FramingDefinition = { name: 'binary', frame, checkConfig: refuseConfig('binary') };
