/*
 * Debian's Chromium, driven by playwright-core (no browser download): where it is, and a
 * persistent context in a profile folder of the test's own. The flags keep it quiet: without
 * the background-networking ones it floods this closed network with refused connections
 * (TESTING.md). Without Chromium a test skips (with CI=true it fails: .ci/run installs it).
 */
import { chromium, type BrowserContext } from 'playwright-core';
import { findProgram, requireProgram, skipUnlessInstalled } from './tools.js';

export const CHROMIUM = findProgram(['/usr/bin/chromium']);
const FLAGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];

/** A suite's `skip` option for tests that need Chromium. */
export const skipWithoutChromium = skipUnlessInstalled(CHROMIUM !== undefined, 'chromium (apt-get install chromium)');

/** Chromium with a fresh profile in `profile` (its --user-data-dir). */
export function launchChromium(profile: string, viewport?: { readonly width: number; readonly height: number }): Promise<BrowserContext> {
  const executablePath = requireProgram(CHROMIUM, 'chromium');
  return chromium.launchPersistentContext(profile, { executablePath, headless: true, args: FLAGS, timeout: 30_000, ...(viewport === undefined ? {} : { viewport }) });
}
