/*
 * Preloaded (`node --import`) into a websocksy under test: writes every module the process
 * loaded to the file WEBSOCKSY_TEST_MODULES names, one per line: ES modules as the loader's hook
 * sees them (record-modules-hooks.ts), CommonJS ones from require's cache when the process exits
 * (an ES hook never sees a require(), which is how undici and uWS load). test/start-up-modules
 * reads it to check what a start leaves unloaded.
 */
import { appendFileSync } from 'node:fs';
import { createRequire, register } from 'node:module';

const file = process.env['WEBSOCKSY_TEST_MODULES'];
if (file === undefined) throw new Error('record-modules: WEBSOCKSY_TEST_MODULES names no file');
register('./record-modules-hooks.js', import.meta.url, { data: { file } });
const cache = createRequire(import.meta.url).cache;
process.on('exit', () => appendFileSync(file, Object.keys(cache).map((path) => `${path}\n`).join('')));
