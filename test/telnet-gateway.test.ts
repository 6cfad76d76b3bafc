/*
 * examples/telnet-gateway, as a user runs it, in Chromium: the page served by websocksy from
 * the example's own config (ports made free, nothing else changed), xterm.js on ResumableSocket,
 * the example's line service behind it. The test types into the terminal, cuts every
 * connection through a relay while the service keeps printing and while the user keeps typing,
 * and checks the terminal ends up with every line once: socketproxy's gateway, surviving Wi-Fi.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { chromium, type Page } from 'playwright-core';
import { CuttingRelay } from './helpers/cutting-relay.js';
import { freePort } from './helpers/instances.js';
import { tempDir } from './helpers/peers.js';
import { findProgram, requireProgram, skipUnlessInstalled } from './helpers/tools.js';
import { ROOT, startWebsocksy } from './helpers/websocksy.js';

const CHROMIUM = findProgram(['/usr/bin/chromium']);
const FLAGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];
const EXAMPLE = join(ROOT, 'examples', 'telnet-gateway');

interface Gateway {
  readonly gateway: { text(): string };
}

async function terminalText(page: Page): Promise<string> {
  return page.evaluate(() => (globalThis as unknown as Gateway).gateway.text());
}

async function waitForText(page: Page, pattern: RegExp, timeoutMs = 15_000): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const text = await terminalText(page);
    if (pattern.test(text)) return text;
    assert.ok(Date.now() < deadline, `the terminal never showed ${String(pattern)}; it shows:\n${text}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

function count(text: string, pattern: RegExp): number {
  return [...text.matchAll(new RegExp(pattern.source, `${pattern.flags}g`))].length;
}

describe('examples/telnet-gateway in Chromium', { timeout: 120_000, skip: skipUnlessInstalled(CHROMIUM !== undefined, 'chromium (apt-get install chromium)') }, () => {
  test('typing, output while away and typing while away: every line once, across cuts', async () => {
    const executablePath = requireProgram(CHROMIUM, 'chromium');
    const dir = tempDir('websocksy-telnet-');
    const servicePort = await freePort();
    const service = spawn(process.execPath, [join(EXAMPLE, 'line-service.mjs'), String(servicePort)], { stdio: ['ignore', 'pipe', 'inherit'] });
    await once(service.stdout, 'data');
    // The example's config, with free ports and its relative folders made absolute.
    const config = readFileSync(join(EXAMPLE, 'websocksy.cfg'), 'utf8')
      .replace(/^port = 8001$/m, 'port = 0')
      .replace('tcp://127.0.0.1:2323', `tcp://127.0.0.1:${servicePort}`)
      .replace(/^static = (.*)$/gm, (_line, folder: string) => `static = ${join(EXAMPLE, folder)}`);
    assert.match(config, /port = 0/);
    const configFile = join(dir.path, 'websocksy.cfg');
    writeFileSync(configFile, config);
    const server = await startWebsocksy([configFile]);
    const relay = new CuttingRelay(server.port);
    await relay.start();
    const context = await chromium.launchPersistentContext(join(dir.path, 'profile'), { executablePath, headless: true, args: FLAGS, timeout: 30_000 });
    try {
      const page = context.pages()[0] ?? (await context.newPage());
      await page.goto(`http://127.0.0.1:${relay.port}/term/`, { timeout: 15_000 });
      await waitForText(page, /^> /m);
      await page.click('#terminal');
      await page.keyboard.type('count 3\r');
      await waitForText(page, /line 3 of 3/);

      // Output while away: the service prints a tick a second; the network drops for 2.5 s.
      await page.keyboard.type('ticks 4\r');
      await waitForText(page, /tick .*\(3 to go\)/);
      relay.down();
      await new Promise((resolve) => setTimeout(resolve, 2500));
      relay.up();
      await waitForText(page, /\(0 to go\)/);
      await page.waitForFunction(() => (globalThis as unknown as { document: { getElementById(id: string): { textContent: string | null } | null } }).document.getElementById('state')?.textContent === 'connected', undefined, { timeout: 15_000 });

      // Typing while away: what is typed is kept and reaches the service once the network is back.
      relay.down();
      await page.keyboard.type('echo typed while away\r');
      await new Promise((resolve) => setTimeout(resolve, 500));
      relay.up();
      const text = await waitForText(page, /^typed while away$/m);
      for (let i = 3; i >= 0; i--) assert.equal(count(text, new RegExp(`\\(${i} to go\\)`)), 1, `tick ${i} exactly once:\n${text}`);
      assert.equal(count(text, /^line 3 of 3$/m), 1);
      assert.equal(count(text, /^typed while away$/m), 1);
      assert.ok(relay.cuts >= 2);
      await server.waitForLog(/session resumed/);
      assert.doesNotMatch(server.log(), /internal error/);
    } finally {
      await context.close();
      await relay.close();
      await server.stop();
      service.kill();
      dir.remove();
    }
  });
});
