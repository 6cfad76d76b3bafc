/*
 * The objects made per connection that V8 11 (Node 20) would give a map of their own every time
 * (src/lib/extended.ts, src/lib/socket-options.ts): what they hold, and, asked of V8 itself in a
 * child run with --allow-natives-syntax on whichever Node runs the suite (the matrix runs 20, 22
 * and 24), that a thousand of them made the same way share one map. A leading spread followed
 * by a new property, which the helpers replace, is checked beside them so that the test shows
 * what it guards against on the Node where it happens.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { test } from 'node:test';
import { extended } from '../src/lib/extended.js';
import { socketOptions } from '../src/lib/socket-options.js';

/** V8 11 (Node 20) is the engine whose spread copies get maps of their own. */
const V8_MAJOR = Number(process.versions.v8.split('.')[0]);

test('extended() holds what a spread would, and leaves its base as it was', () => {
  const base = { id: 7, method: 'GET', auth: 'before' };
  const made = extended(base, { auth: 'after', ticket: 3 });
  assert.deepEqual(made, { id: 7, method: 'GET', auth: 'after', ticket: 3 });
  assert.deepEqual(base, { id: 7, method: 'GET', auth: 'before' });
  assert.equal(Object.getPrototypeOf(made), Object.prototype);
});

test('socketOptions() keeps every option, without a prototype only on V8 11', () => {
  const onread = { buffer: Buffer.alloc(16), callback: (): boolean => true };
  const options = { allowHalfOpen: true, onread };
  const made = socketOptions(options);
  assert.deepEqual({ ...made }, options);
  if (V8_MAJOR < 12) assert.equal(Object.getPrototypeOf(made), null);
  else assert.equal(made, options);
  // With an option added: one copy, the given options untouched.
  const withExtra = socketOptions({ allowHalfOpen: true }, { onread });
  assert.deepEqual({ ...withExtra }, options);
  assert.equal(Object.getPrototypeOf(withExtra), V8_MAJOR < 12 ? null : Object.prototype);
});

test('on this Node, the objects the helpers make share one map, as net.Socket copies them too', () => {
  const extendedUrl = new URL('../src/lib/extended.js', import.meta.url).href;
  const socketOptionsUrl = new URL('../src/lib/socket-options.js', import.meta.url).href;
  const script = `
    import { extended } from ${JSON.stringify(extendedUrl)};
    import { socketOptions } from ${JSON.stringify(socketOptionsUrl)};
    const newMaps = (make) => {
      let previous = make(0), count = 0;
      for (let i = 1; i < 1000; i++) { const next = make(i); if (!%HaveSameMap(previous, next)) count++; previous = next; }
      return count;
    };
    const request = (i) => ({ id: i, method: 'GET', rawPath: '/', clientAddress: '127.0.0.1', headers: [] });
    // What net.Socket does with its options: a spread copy, then four properties added.
    const socketCopy = (options) => { const copy = { ...options }; copy.emitClose = false; copy.autoDestroy = true; copy.decodeStrings = false; copy.highWaterMark = 1; return copy; };
    console.log(JSON.stringify({
      spread: newMaps((i) => ({ ...request(i), auth: i })),
      extended: newMaps((i) => extended(request(i), { auth: i })),
      plainOptions: newMaps((i) => socketCopy({ allowHalfOpen: true, readable: i >= 0 })),
      socketOptions: newMaps((i) => socketCopy(socketOptions({ allowHalfOpen: true, readable: i >= 0 }))),
      socketOptionsExtra: newMaps((i) => socketCopy(socketOptions({ allowHalfOpen: true }, { readable: i >= 0 }))),
    }));`;
  const run = spawnSync(process.execPath, ['--allow-natives-syntax', '--input-type=module', '-e', script], { encoding: 'utf8' });
  assert.equal(run.status, 0, run.stderr);
  const counts = JSON.parse(run.stdout) as Record<'spread' | 'extended' | 'plainOptions' | 'socketOptions' | 'socketOptionsExtra', number>;
  assert.ok(counts.extended <= 1, `extended(): ${counts.extended} new maps in 999 objects`);
  assert.ok(counts.socketOptions <= 1, `socketOptions() copied as net.Socket does: ${counts.socketOptions} new maps in 999 copies`);
  assert.ok(counts.socketOptionsExtra <= 1, `socketOptions() with an option added, copied as net.Socket does: ${counts.socketOptionsExtra} new maps in 999 copies`);
  // Where the spread mints maps, the helpers are what keeps the connection path off it.
  if (V8_MAJOR < 12) assert.ok(counts.spread > 900 && counts.plainOptions > 900, JSON.stringify(counts));
});
