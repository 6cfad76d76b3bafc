/* The builtin framing functions, and a registry holding them (plugins may replace them). */
import type { FramingDefinition } from '../core/api.js';
import { autoFraming } from './auto.js';
import { binaryFraming } from './binary.js';
import { dynamic32Framing } from './dynamic32.js';
import { fixedlengthFraming } from './fixedlength.js';
import { jsonFraming } from './json.js';
import { newlineFraming } from './newline.js';
import { FramingRegistry } from './registry.js';
import { separatorFraming } from './separator.js';

export const builtinFramings: readonly FramingDefinition[] = [
  autoFraming,
  binaryFraming,
  separatorFraming,
  newlineFraming,
  fixedlengthFraming,
  dynamic32Framing,
  jsonFraming,
];

export function createFramingRegistry(): FramingRegistry {
  const registry = new FramingRegistry();
  for (const definition of builtinFramings) registry.register(definition);
  return registry;
}
