/*
 * Code and commands as the documentation shows them, cut out of the page, so that tests run what a
 * reader would copy.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { ROOT } from './websocksy.js';

/** The first ```LANG block after the line `heading` in `page` (docs/plugins.md unless named). */
export function documented(heading: string, lang: string, page = 'docs/plugins.md'): string {
  const text = readFileSync(`${ROOT}${page}`, 'utf8');
  const from = text.indexOf(`\n${heading}\n`);
  assert.ok(from >= 0, `${page} has "${heading}"`);
  const block = new RegExp(`\`\`\`${lang}\\n([^]*?)\`\`\``).exec(text.slice(from));
  assert.ok(block !== null, `a ${lang} block after "${heading}"`);
  return block[1] as string;
}
