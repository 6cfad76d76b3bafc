/*
 * The package's entry point for plugin authors: `import type { Backend, FramingFunction,
 * RouteModule } from 'websocksy'`. It is the plugin API and nothing else: backends and framing
 * functions (src/core/api.ts), and route modules (src/core/route-api.ts).
 */
export * from './core/api.js';
export * from './core/route-api.js';
