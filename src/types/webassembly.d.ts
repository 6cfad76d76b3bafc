/*
 * The part of the WebAssembly JavaScript API that framing/simd-scan.ts uses. Node has it as a
 * global, but its typings come with TypeScript's DOM library, which this server does not load.
 */
declare namespace WebAssembly {
  class Module {
    constructor(bytes: Uint8Array<ArrayBuffer>);
  }
  class Instance {
    constructor(module: Module);
    readonly exports: Record<string, unknown>;
  }
  class Memory {
    readonly buffer: ArrayBuffer;
  }
}
