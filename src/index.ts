/*
 * The package's entry point for plugin authors: `import type { Backend, FramingFunction } from
 * 'websocksy'`. It is the plugin API and nothing else (src/core/api.ts).
 */
export * from './core/api.js';
