/*
 * Conditional GET and HEAD against a file's validators (RFC 9110 §13): an entity tag made of
 * the file's size and modification time, and its Last-Modified date. If-None-Match is
 * evaluated with weak comparison and, when present, If-Modified-Since is not looked at
 * (§13.2.2); If-Range needs a strong match, so a stale range is never spliced onto a newer file.
 */
import { formatHttpDate, parseHttpDate } from './http-date.js';

export interface Validators {
  /** Strong and quoted: `"size-mtime"`, both in hex, the time in nanoseconds. */
  readonly etag: string;
  /** The modification time as Last-Modified says it: whole seconds, in milliseconds. */
  readonly modified: number;
  /** The modification time to the millisecond. */
  readonly modifiedExactly: number;
  readonly lastModified: string;
}

export function validatorsOf(size: bigint, mtimeNs: bigint): Validators {
  const modified = Number(mtimeNs / 1_000_000_000n) * 1000;
  return { etag: `"${size.toString(16)}-${mtimeNs.toString(16)}"`, modified, modifiedExactly: Number(mtimeNs / 1_000_000n), lastModified: formatHttpDate(modified) };
}

/** The entity tags of a list header, each with its `W/` if any; null if the list is malformed. */
export function entityTags(value: string): string[] | null {
  const tags: string[] = [];
  // etagc is any visible character but `"` (RFC 9110 §8.8.3), so a comma may sit inside a tag.
  const TAG = /\s*((?:W\/)?"[\x21\x23-\x7e\x80-\xff]*")\s*(?:,|$)/y;
  const EMPTY = /\s*,/y;
  let at = 0;
  while (at < value.length) {
    EMPTY.lastIndex = at;
    if (EMPTY.test(value)) {
      at = EMPTY.lastIndex;
      continue;
    }
    TAG.lastIndex = at;
    const match = TAG.exec(value);
    if (match === null) return value.slice(at).trim() === '' ? tags : null;
    tags.push(match[1] as string);
    at = TAG.lastIndex;
  }
  return tags;
}

const opaque = (tag: string): string => (tag.startsWith('W/') ? tag.slice(2) : tag);

/** Weak comparison: the same opaque tag, either or both weak. */
function weakMatch(listed: readonly string[], etag: string): boolean {
  return listed.some((tag) => opaque(tag) === opaque(etag));
}

/** True when a GET or HEAD with these headers gets 304 Not Modified. Each argument: the header's lines. */
export function notModified(ifNoneMatch: readonly string[], ifModifiedSince: readonly string[], validators: Validators): boolean {
  if (ifNoneMatch.length > 0) {
    const joined = ifNoneMatch.join(',');
    if (joined.trim() === '*') return true;
    const tags = entityTags(joined);
    return tags !== null && weakMatch(tags, validators.etag);
  }
  // More than one line, or anything but an HTTP-date, is ignored (RFC 9110 §13.1.3).
  if (ifModifiedSince.length !== 1) return false;
  const since = parseHttpDate((ifModifiedSince[0] as string).trim());
  return since !== null && validators.modified <= since;
}

/**
 * True when a Range may be honoured: no If-Range, or one naming the current file. A date
 * matches only if it is exactly Last-Modified and that is at least a second before now: a file
 * changed twice within its last second would otherwise have two contents under one date.
 */
export function rangeStillValid(ifRange: readonly string[], validators: Validators, now = Date.now()): boolean {
  if (ifRange.length === 0) return true;
  if (ifRange.length > 1) return false;
  const value = (ifRange[0] as string).trim();
  if (value.startsWith('"') || value.startsWith('W/')) return value === validators.etag;
  const date = parseHttpDate(value);
  return date !== null && date === validators.modified && validators.modifiedExactly + 1000 <= now;
}
