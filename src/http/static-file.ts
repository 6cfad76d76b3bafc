/*
 * Finding and opening the file a static request names. The file's real path must lie in the
 * folder and hold no hidden name either (no symlink leads out, or to `.env` under another name).
 * It is opened once, and its size, time and bytes all come from that one open file, so a
 * response never mixes the validators of one version with the bytes of another. O_NONBLOCK
 * keeps a FIFO in the folder from holding a libuv thread in open(); it is refused after fstat.
 */
import { constants } from 'node:fs';
import { open, realpath, type FileHandle } from 'node:fs/promises';
import { join, relative, sep } from 'node:path';
import { errorCode } from '../lib/errors.js';
import { validatorsOf, type Validators } from './conditional.js';
import { hidden } from './static-path.js';

export interface StaticFile {
  /** Read the body from this handle (and close it when not sending one). */
  readonly handle: FileHandle;
  /** The real path, for Content-Type and the log. */
  readonly path: string;
  readonly size: number;
  readonly validators: Validators;
}

export type StaticLookup =
  | { readonly kind: 'file'; readonly file: StaticFile }
  /** A folder named without its trailing slash: the client is sent to the path with one. */
  | { readonly kind: 'folder' }
  /** Answered 404; `suspicious` lookups are logged as warnings, the rest at debug. */
  | { readonly kind: 'missing'; readonly why: string; readonly suspicious: boolean };

const missing = (why: string, suspicious = false): StaticLookup => ({ kind: 'missing', why, suspicious });

async function realPathIn(root: string, path: string): Promise<string | StaticLookup> {
  let real: string;
  try {
    real = await realpath(path);
  } catch (error) {
    const code = errorCode(error);
    if (code === 'ENOENT' || code === 'ENOTDIR') return missing('no such file');
    throw error;
  }
  if (real !== root && !real.startsWith(root + sep)) return missing('a link leads outside the folder', true);
  if (real !== root && hidden(relative(root, real).split(sep))) return missing('a link leads to a hidden name');
  return real;
}

/**
 * The file `names` (inside `root`, a real path) denotes: `asFolder` when the request path
 * ended with `/`, which a file never matches; a folder stands for its index.html.
 */
export async function openStatic(root: string, names: readonly string[], asFolder: boolean, isIndex = false): Promise<StaticLookup> {
  const real = await realPathIn(root, join(root, ...names));
  if (typeof real !== 'string') return real;
  const handle = await open(real, constants.O_RDONLY | constants.O_NONBLOCK);
  let keep = false;
  try {
    const info = await handle.stat({ bigint: true });
    if (info.isDirectory() && !isIndex) {
      if (!asFolder) return { kind: 'folder' };
      return await openStatic(root, [...names, 'index.html'], false, true);
    }
    if (!info.isFile()) return missing(isIndex ? 'index.html is not a file' : 'not a regular file');
    if (asFolder) return missing('a file asked for as a folder');
    keep = true;
    return { kind: 'file', file: { handle, path: real, size: Number(info.size), validators: validatorsOf(info.size, info.mtimeNs) } };
  } finally {
    if (!keep) await handle.close();
  }
}
