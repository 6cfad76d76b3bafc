/*
 * websocksy/client in Chromium (Debian's, driven by playwright-core): a page that websocksy
 * serves itself, from a static route holding the browser build (dist/client) and a test page,
 * streams 20 MB each way through a ResumableSocket to a TCP echo while a relay cuts its
 * connections 20 times and, between cuts, refuses WebSocket upgrades for a while, so the
 * browser's fetch carries the session too. Everything must come back once, in order.
 * Without Chromium the test skips (with CI=true it fails: .ci/run installs it).
 */
import assert from 'node:assert/strict';
import { copyFileSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { CuttingRelay } from './helpers/cutting-relay.js';
import { hashingEcho } from './helpers/hashing-peers.js';
import { tempDir } from './helpers/peers.js';
import { launchChromium, skipWithoutChromium } from './helpers/chromium.js';
import { ROOT, startWebsocksy } from './helpers/websocksy.js';

const TOTAL = 20 * 1024 * 1024;
const CUTS = 20;

interface PageState {
  readonly loaded: boolean;
  readonly allowance: number;
  readonly received: number;
  readonly sent: number;
  readonly events: string[];
  readonly done: boolean;
  readonly error: string | null;
  readonly sentHash: string | null;
  readonly receivedHash: string | null;
  readonly close: { code: number; reason: string; wasClean: boolean } | null;
}

describe('websocksy/client in Chromium', { timeout: 180_000, skip: skipWithoutChromium }, () => {
  test('a page served by websocksy gets every byte once, in order, through 20 cuts and switches of transport', async () => {
    const dir = tempDir('websocksy-browser-');
    const echo = await hashingEcho();
    // The static folder: the test page and the browser build as it is shipped.
    const app = join(dir.path, 'app');
    const built = join(ROOT, 'dist', 'client');
    mkdirSync(app);
    copyFileSync(join(ROOT, 'test', 'browser', 'client-page.html'), join(app, 'index.html'));
    for (const name of readdirSync(built).filter((file) => file.endsWith('.js'))) copyFileSync(join(built, name), join(app, name));
    const config = join(dir.path, 'websocksy.cfg');
    writeFileSync(config, ['[core]', 'listen = 127.0.0.1', 'port = 0', 'ping = 0', '[backend]', `host = ${echo.address}`, 'resumable = yes', '[route /app]', `static = ${app}`, ''].join('\n'));
    const server = await startWebsocksy([config]);
    const relay = new CuttingRelay(server.port);
    await relay.start();
    const context = await launchChromium(join(dir.path, 'profile'));
    try {
      const page = context.pages()[0] ?? (await context.newPage());
      await page.goto(`http://127.0.0.1:${relay.port}/app/`, { timeout: 15_000 });
      await page.waitForFunction(() => (globalThis as unknown as { state?: PageState }).state?.loaded === true, undefined, { timeout: 15_000 });
      // Relative to the page, as a page would write it: ws://127.0.0.1:<relay>/echo.
      const url = '/echo';
      await page.evaluate(([target, total]) => (globalThis as unknown as { start(url: string, total: number, size: number, transport: string): void }).start(target, total, 64 * 1024, 'auto'), [url, TOTAL] as const);

      const readState = (): Promise<PageState> => page.evaluate(() => (globalThis as unknown as { state: PageState }).state);
      const resumes = async (): Promise<number> => (await readState()).events.filter((event) => event.startsWith('resume')).length;
      const wait = async (condition: () => Promise<boolean>, timeoutMs: number, what: () => Promise<string>): Promise<void> => {
        const deadline = Date.now() + timeoutMs;
        while (!(await condition())) {
          assert.ok(Date.now() < deadline, await what());
          await new Promise((resolve) => setTimeout(resolve, 20));
        }
      };
      const describe = async (): Promise<string> => {
        const state = await readState();
        return `page: ${JSON.stringify({ ...state, events: state.events.slice(-10) })}, peer got ${echo.received()}, ${relay.cuts} cuts`;
      };
      // Cuts spread over the transfer. The first half meet a relay that lets upgrades through:
      // each drops the WebSocket, and the test waits for the resume. From the middle on the
      // relay refuses upgrades, so the session goes on over fetch (whose requests Chromium may
      // retry on a fresh connection, so those cuts are not always seen). The last cut lets
      // upgrades through again and turns connections away for a moment, which no retry hides.
      const allow = (bytes: number): Promise<void> => page.evaluate((allowance) => void ((globalThis as unknown as { state: { allowance: number } }).state.allowance = allowance), bytes);
      const spacing = Math.floor(TOTAL / (CUTS + 1));
      for (let cut = 1; cut <= CUTS; cut += 1) {
        await allow(cut * spacing);
        // Halfway through the step, so that the cut finds data on its way.
        await wait(async () => echo.received() >= (cut - 0.5) * spacing, 30_000, describe);
        relay.blockWebSocket = cut > CUTS / 2 && cut < CUTS;
        const before = await resumes();
        const attached = cut <= CUTS / 2 + 1 || cut === CUTS;
        if (cut === CUTS) {
          relay.down();
          await new Promise((resolve) => setTimeout(resolve, 300));
          relay.up();
        } else relay.cut(cut % 2 === 0 ? 'rst' : 'fin');
        if (attached) await wait(async () => (await resumes()) > before, 15_000, describe);
      }
      // A resume tries WebSocket, then HTTP. When the relay comes back between those two tries,
      // the session resumes over HTTP although upgrades pass again. Each down-and-up is a fresh
      // chance, so a few more show the client back on WebSocket (each while data waits).
      const lastResume = async (): Promise<string | undefined> => (await readState()).events.filter((event) => event.startsWith('resume')).at(-1);
      for (let extra = 0; extra < 3 && (await lastResume()) !== 'resume websocket'; extra++) {
        const before = await resumes();
        relay.down();
        await new Promise((resolve) => setTimeout(resolve, 1000));
        relay.up();
        await wait(async () => (await resumes()) > before, 15_000, describe);
      }
      relay.blockWebSocket = false;
      await allow(TOTAL);
      let final = await readState();
      await wait(
        async () => {
          final = await readState();
          return final.done;
        },
        120_000,
        describe,
      );
      assert.equal(final.error, null);
      assert.ok(relay.cuts >= CUTS, 'every cut happened during the transfer');
      assert.deepEqual(final.close, { code: 1000, reason: 'done', wasClean: true });
      assert.equal(final.received, TOTAL, 'the page got every byte once');
      assert.equal(final.receivedHash, final.sentHash, 'the page got the bytes in order');
      assert.equal(echo.received(), TOTAL, 'the peer got every byte once');
      assert.equal(echo.digest(), final.sentHash, 'the peer got the bytes in order');
      assert.equal(final.events.filter((event) => event === 'open').length, 1);
      const detaches = final.events.filter((event) => event.startsWith('detach')).length;
      const resumed = final.events.filter((event) => event.startsWith('resume'));
      assert.ok(detaches >= CUTS / 2 + 1 && resumed.length === detaches, final.events.join(', '));
      assert.ok(resumed.includes('resume websocket') && resumed.includes('resume http'), `both transports: ${final.events.join(', ')}`);
      assert.equal(resumed.at(-1), 'resume websocket', 'back on WebSocket once upgrades pass again');
      process.stderr.write(`chromium: ${CUTS} cuts, ${detaches} detaches (${resumed.filter((event) => event.endsWith('http')).length} resumed over HTTP), ${TOTAL} B each way\n`);
    } finally {
      await context.close();
      await relay.close();
      await server.stop();
      await echo.close();
      dir.remove();
    }
  });
});
