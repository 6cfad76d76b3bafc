/*
 * Options for `new net.Socket()` and `net.connect()` in the form the running V8 makes cheapest.
 * net.Socket copies its options with an object spread, then adds four properties to the copy.
 * On V8 11 (Node 20) a copy of an object that has Object.prototype gets a map of its own each
 * time it grows (491 new maps in 499 copies; none on V8 12.4 and 13.6), so every property load
 * of the stream constructors that read the copy misses its inline cache: 10–13 µs per socket,
 * against 5–6 when the options have no prototype. On V8 12 and later the plain object is the
 * cheaper (2.9 against 4.6 µs), so it goes as it is. bench/README.md, "Objects that get a map
 * of their own on Node 20".
 */
import { extended } from './extended.js';

const SPREAD_COPY_GETS_NEW_MAPS = Number(process.versions.v8.split('.')[0]) < 12;

/**
 * `options`, with `extra` added when given, as net.Socket takes them fastest here: one copy
 * without a prototype on V8 11; else the options themselves, or a plain copy with the extra.
 */
export function socketOptions<T extends object>(options: T): T;
export function socketOptions<T extends object, E extends object>(options: T, extra: E): T & E;
export function socketOptions<T extends object, E extends object>(options: T, extra?: E): T | (T & E) {
  if (SPREAD_COPY_GETS_NEW_MAPS) return Object.assign(Object.create(null) as T, options, extra);
  return extra === undefined ? options : extended(options, extra);
}
