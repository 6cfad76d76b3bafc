/*
 * Framing functions by name. Builtins are registered first; plugins may replace them
 * (websocksy's core_register_framing semantics), and the registry says when one did.
 */
import type { FramingDefinition } from '../core/api.js';

export class FramingRegistry {
  private readonly byName = new Map<string, FramingDefinition>();

  /** Registers `definition`; returns true when it replaced one of the same name. */
  register(definition: FramingDefinition): boolean {
    const replaced = this.byName.has(definition.name);
    this.byName.set(definition.name, definition);
    return replaced;
  }

  get(name: string): FramingDefinition | undefined {
    return this.byName.get(name);
  }

  names(): string[] {
    return [...this.byName.keys()];
  }
}
