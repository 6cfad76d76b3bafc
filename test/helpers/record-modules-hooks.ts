/*
 * The module loader's hooks for record-modules.ts (they run on the loader's own thread): each
 * ES module's URL is appended to the file as it is loaded.
 */
import { appendFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

let file = '';

export function initialize(data: { readonly file: string }): void {
  file = data.file;
}

interface LoadContext {
  readonly format?: string | null;
}

export async function load(url: string, context: LoadContext, next: (url: string, context: LoadContext) => Promise<unknown>): Promise<unknown> {
  if (url.startsWith('file:')) appendFileSync(file, `${fileURLToPath(url)}\n`);
  return next(url, context);
}
