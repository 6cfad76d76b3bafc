/*
 * The file backend (websocksy's backend_file): per connection, each `expression` in turn names
 * a file under `path`, and the first file with a line matching the client's subprotocols gives
 * the peer. Files are re-read for every connection, so edits apply at once. Unlike the
 * original, expanded names cannot leave `path`, malformed lines are skipped with a warning
 * instead of crashing, and all file access is asynchronous.
 */
import { constants, statSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { resolve } from 'node:path';
import type { BackendFactory, ConfigureContext, PeerInfo, PeerQuery } from '../core/api.js';
import { errorCode } from '../lib/errors.js';
import { resolveInside } from './file-path.js';
import { findPeer } from './peer-file.js';
import { withFixedAnswers } from './fixed-answers.js';
import { expandExpression, takesRequestValues } from './templates.js';

/**
 * The text of a regular file, or undefined when there is none to read. O_NONBLOCK keeps a FIFO
 * from holding the open (and a libuv thread) until some writer appears.
 */
async function readRegularFile(file: string): Promise<string | undefined> {
  // Missing or unreadable: this expression names no peer file, as in websocksy.
  const handle = await open(file, constants.O_RDONLY | constants.O_NONBLOCK).catch(() => undefined);
  if (handle === undefined) return undefined;
  try {
    return (await handle.stat()).isFile() ? await handle.readFile('utf8') : undefined;
  } finally {
    await handle.close();
  }
}

/** `path` checked when it is configured, so that the error names the line that gave it (as the C plugin does). */
function existingDirectory(path: string): string {
  let isDirectory: boolean;
  try {
    isDirectory = statSync(path).isDirectory();
  } catch (error) {
    throw new Error(`path ${path}: ${errorCode(error)}`);
  }
  if (!isDirectory) throw new Error(`path ${path} is not a directory`);
  return path;
}

export const createFileBackend: BackendFactory = (host) => {
  let base: string | undefined;
  const expressions: string[] = [];

  function configure(key: string, value: string, context: ConfigureContext): void {
    switch (key) {
      case 'path':
        if (value === '') throw new Error('empty path (expected the directory holding the peer files)');
        base = existingDirectory(resolve(context.baseDir, value));
        return;
      case 'expression':
        if (value === '') throw new Error('empty expression (expected a file name template such as %endpoint%.txt)');
        expressions.push(value);
        return;
      default:
        throw new Error(`unknown key "${key}" (known keys: path, expression)`);
    }
  }

  function ready(): void {
    if (base === undefined) throw new Error('path is not set (the directory holding the peer files)');
    if (expressions.length === 0) throw new Error('no expression set, so every connection would be refused');
  }

  /** The peer that one expression finds for `request`, or null to try the next expression. */
  async function peerFrom(expression: string, directory: string, request: PeerQuery): Promise<PeerInfo | null> {
    const expanded = expandExpression(expression, request);
    const file = expanded === undefined ? undefined : resolveInside(directory, expanded);
    const text = file === undefined ? undefined : await readRegularFile(file);
    return file === undefined || text === undefined ? null : findPeer(text, file, request.protocols, host);
  }

  async function query(request: PeerQuery): Promise<PeerInfo | null> {
    if (base === undefined) return null; // ready() refuses to start without a path
    for (const expression of expressions) {
      const peer = await peerFrom(expression, base, request);
      if (peer !== null) return peer;
    }
    return null;
  }

  return withFixedAnswers({ name: 'file', configure, ready, query }, () =>
    expressions.some(takesRequestValues) ? 'its expressions take request values' : null,
  );
};
