/*
 * The status page (docs/operations.md, "Status page") in Debian's Chromium, driven by
 * playwright-core: websocksy with a [status] token bridges N WebSocket clients to a TCP echo;
 * the page asks for the token, then shows N connections, charts the last minutes and lists the
 * connections; a screenshot is taken and checked. Its close button closes one client with 1008
 * "closed by operator" and the page shows N-1. A tunnel client (`websocksy forward`) and a
 * resumable session are listed too: closing the tunnel session brings its client back with a
 * new one, closing the resumable session gives its client 1008. The drain button, once
 * confirmed, drains the server, which exits soon after the last client and the page have gone,
 * long before its drain-timeout. Every request the page makes goes to the server itself.
 * Without the token the data endpoints answer 401, and an action from another origin is refused
 * even with it. Without Chromium the browser test skips (CI=true: fails).
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { Page } from 'playwright-core';
import type { HistoryJson } from '../src/status-page/history-json.js';
import { launchChromium, skipWithoutChromium } from './helpers/chromium.js';
import { closeClient, connect, type TestClient } from './helpers/client.js';
import { tunnelSection } from './helpers/instances.js';
import { tcpEcho, tempDir, type Peer } from './helpers/peers.js';
import { recordClient, type ClientRecorder } from './helpers/session-client.js';
import { startForward } from './helpers/tunnel.js';
import { startWebsocksy, type RunningWebsocksy } from './helpers/websocksy.js';

const TOKEN = 'status-page-test-token';
const TUNNEL_TOKEN = 'status-page-tunnel-token';
const OPEN = 4;
/** charts.ts COLOURS.connections, as the canvas has it. */
const CONNECTIONS_RGB = [0x2a, 0x7a, 0xe2] as const;
const PNG_SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);

/** The little of the DOM the checks in the page use (this project's tests compile without the DOM's types). */
interface PageCanvas {
  readonly width: number;
  readonly height: number;
  getContext(kind: '2d'): { getImageData(x: number, y: number, width: number, height: number): { readonly data: Uint8ClampedArray } } | null;
}
interface PageGlobals {
  readonly document: { querySelector(selector: string): (PageCanvas & { readonly textContent: string | null }) | null };
}

describe('the status page', { timeout: 120_000 }, () => {
  const dir = tempDir('websocksy-status-page-');
  let echo: Peer;
  let server: RunningWebsocksy;
  let forward: RunningWebsocksy;
  let resumable: ClientRecorder;
  let base: string;
  const clients: TestClient[] = [];
  const bearer = { Authorization: `Bearer ${TOKEN}` };

  before(async () => {
    echo = await tcpEcho();
    writeFileSync(join(dir.path, 'status-token'), `${TOKEN}\n`);
    const config = join(dir.path, 'websocksy.cfg');
    const echoAt = `127.0.0.1:${echo.address.split(':').at(-1) ?? ''}`;
    const tunnel = tunnelSection(dir.path, 'status-page', `alice ${TUNNEL_TOKEN} connect=${echoAt}\n`);
    writeFileSync(config, ['[core]', 'listen = 127.0.0.1', 'port = 0', 'ping = 0', 'drain-timeout = 20', '[backend]', `host = ${echo.address}`, 'resumable = yes', tunnel, '[status]', 'path = /.status', 'token-file = status-token', ''].join('\n'));
    server = await startWebsocksy([config]);
    base = `http://127.0.0.1:${server.port}/.status`;
    forward = await startForward(['-L', `0:${echoAt}`, `ws://alice@127.0.0.1:${server.port}/.tunnel`, '--token', TUNNEL_TOKEN]);
    resumable = recordClient(`${server.url}/resumable`);
    await resumable.opened;
    for (let i = 0; i < OPEN; i++) {
      const client = await connect(`${server.url}/echo`);
      client.ws.send(`hello ${i}\n`);
      assert.equal((await client.next()).data.toString(), `hello ${i}\n`);
      clients.push(client);
    }
  });
  after(async () => {
    for (const client of clients) client.ws.terminate();
    resumable?.socket.close();
    await forward?.stop();
    await server?.stop();
    await echo?.close();
    dir.remove();
  });

  test('without the token the data and action endpoints answer 401; an action from another origin is refused with it; the shell has no data', async () => {
    for (const path of ['', '/history']) assert.equal((await fetch(`${base}${path}`)).status, 401, `GET ${path}`);
    for (const path of ['/drain', '/connections/1/close', '/tunnels/abcdefgh/close', '/sessions/abc/close']) {
      assert.equal((await fetch(`${base}${path}`, { method: 'POST' })).status, 401, `POST ${path}`);
      assert.equal((await fetch(`${base}${path}`, { method: 'POST', headers: { ...bearer, Origin: 'http://evil.example' } })).status, 403, `POST ${path} from another origin`);
      assert.equal((await fetch(`${base}${path}`, { method: 'POST', headers: { ...bearer, 'Sec-Fetch-Site': 'cross-site' } })).status, 403, `POST ${path} cross-site`);
    }
    assert.equal((await fetch(`${base}/drain`, { headers: bearer })).status, 405, 'an action is a POST');
    for (const path of ['/connections/999/close', '/tunnels/abcdefgh/close', '/sessions/no-such-session/close']) {
      assert.equal((await fetch(`${base}${path}`, { method: 'POST', headers: bearer })).status, 404, `POST ${path}: nothing to close`);
    }
    // The JSON as before: with the token and no Accept, or any Accept but HTML first.
    const status = (await (await fetch(base, { headers: bearer })).json()) as { connectionsTotal: number; connections: unknown[] };
    assert.equal(status.connectionsTotal, OPEN);
    const history = (await (await fetch(`${base}/history`, { headers: bearer })).json()) as HistoryJson;
    assert.equal(history.intervalSeconds, 2);
    assert.ok(history.time.length >= 1 && history.connections.length === history.time.length);
    const shell = await fetch(base, { headers: { Accept: 'text/html,application/xhtml+xml,*/*;q=0.8' } });
    assert.equal(shell.status, 200);
    assert.match(shell.headers.get('content-type') ?? '', /^text\/html/);
    assert.match(shell.headers.get('content-security-policy') ?? '', /script-src 'self';/);
    const html = await shell.text();
    assert.doesNotMatch(html, /<script>|<script [^>]*>[^<]/, 'no inline script');
    assert.doesNotMatch(html, new RegExp(`${TOKEN}|${echo.address}`), 'no token, no data');
    const asset = /src="([^"]+\/page\.js)"/.exec(html)?.[1];
    const script = await fetch(`http://127.0.0.1:${server.port}${asset}`);
    assert.equal(script.status, 200);
    assert.match(script.headers.get('content-type') ?? '', /^text\/javascript/);
    assert.match(script.headers.get('cache-control') ?? '', /immutable/);
  });

  test('in Chromium: log in with the token, see the numbers and the charts, close one connection, drain', { skip: skipWithoutChromium }, async () => {
    const context = await launchChromium(join(dir.path, 'profile'), { width: 1280, height: 900 });
    const requested: string[] = [];
    try {
      const page = context.pages()[0] ?? (await context.newPage());
      page.on('request', (request) => requested.push(request.url()));
      await page.goto(base, { timeout: 15_000 });
      await page.waitForSelector('#login:not([hidden])', { timeout: 15_000 });
      await page.fill('#token', TOKEN);
      await page.click('#login button[type=submit]');
      await waitForText(page, '#count-connections', String(OPEN));
      assert.equal(await page.locator('#connections tbody tr').count(), OPEN);
      // Two samples at least, so that the connections' line is drawn on the canvas.
      await page.waitForFunction(([r, g, b]) => {
        const canvas = (globalThis as unknown as PageGlobals).document.querySelector('#chart-counts canvas');
        const context2d = canvas?.getContext('2d');
        if (canvas == null || context2d == null || canvas.width === 0) return false;
        const { data } = context2d.getImageData(0, 0, canvas.width, canvas.height);
        let found = 0;
        for (let i = 0; i < data.length; i += 4) if (Math.abs((data[i] as number) - r) < 24 && Math.abs((data[i + 1] as number) - g) < 24 && Math.abs((data[i + 2] as number) - b) < 24 && (data[i + 3] as number) > 200) found++;
        return found > 50;
      }, CONNECTIONS_RGB, { timeout: 20_000 });
      const history = (await (await fetch(`${base}/history`, { headers: bearer })).json()) as HistoryJson;
      assert.ok(history.connections.includes(OPEN), `the history saw ${OPEN} connections: ${history.connections.join(',')}`);
      assert.ok(history.bytesToClientPerSecond.some((rate) => rate > 0) && history.bytesToPeerPerSecond.some((rate) => rate > 0), 'the history saw the echoes');

      const screenshot = await page.screenshot({ fullPage: true });
      assert.deepEqual(screenshot.subarray(0, 8), PNG_SIGNATURE, 'a PNG');
      const [width, height] = [screenshot.readUInt32BE(16), screenshot.readUInt32BE(20)];
      assert.ok(width === 1280 && height >= 600 && height < 10_000, `${width}×${height}`);
      assert.ok(screenshot.length > 20_000, `${screenshot.length} bytes: more than a blank page`);
      writeFileSync(join(dir.path, 'status-page.png'), screenshot);
      assert.equal(await page.locator('#login').isVisible(), false, 'the login form is gone');
      for (const selector of ['#count-connections', '#chart-counts canvas', '#chart-throughput canvas', '#connections', '#drain', '#logout']) assert.ok(await page.locator(selector).first().isVisible(), `${selector} is visible`);

      // Close: the first row's connection, whichever client that is.
      const closing = Promise.race(clients.map((client, index) => client.closed(15_000).then((closed) => ({ ...closed, index }))));
      await page.click('#connections tbody tr:first-child button');
      const closed = await closing;
      assert.deepEqual({ code: closed.code, reason: closed.reason }, { code: 1008, reason: 'closed by operator' });
      clients.splice(closed.index, 1);
      await waitForText(page, '#count-connections', String(OPEN - 1));
      assert.equal(await page.locator('#connections tbody tr').count(), OPEN - 1);

      // A tunnel session, closed: its client comes back with a new session, listed in its place.
      await page.waitForSelector('#tunnels-section:not([hidden])', { timeout: 15_000 });
      const firstTunnel = (await page.locator('#tunnels tbody tr td').first().textContent()) ?? '';
      assert.match(firstTunnel, /^[\w-]{8}$/);
      await page.click('#tunnels tbody tr:first-child button');
      await server.waitForLog(new RegExp(`tunnel closed by operator session=${firstTunnel}`));
      await forward.waitForLog(/(tunnel up[^]*){2}/);
      await page.waitForFunction(([first]) => {
        const shown = (globalThis as unknown as PageGlobals).document.querySelector('#tunnels tbody tr td')?.textContent;
        return shown != null && shown !== first;
      }, [firstTunnel] as const, { timeout: 15_000 });

      // A resumable session, closed: its client gets 1008 and does not come back.
      await page.waitForSelector('#sessions-section:not([hidden])', { timeout: 15_000 });
      assert.equal(await page.locator('#sessions tbody tr').count(), 1);
      await page.click('#sessions tbody tr:first-child button');
      const sessionClosed = await resumable.closed;
      assert.deepEqual({ code: sessionClosed.code, reason: sessionClosed.reason }, { code: 1008, reason: 'closed by operator' });
      await page.waitForSelector('#sessions-section[hidden]', { state: 'attached', timeout: 15_000 });

      // Drain, once confirmed: the server stops listening, and exits when its clients have gone.
      const dialogs: string[] = [];
      page.once('dialog', (dialog) => {
        dialogs.push(dialog.message());
        void dialog.accept();
      });
      const exited = once(server.process, 'exit') as Promise<[number | null]>;
      await page.click('#drain');
      await server.waitForLog(/draining signal="?status page/, 10_000);
      assert.match(dialogs[0] ?? '', /^Drain/);
      await waitForText(page, '#state', 'draining');
      await assert.rejects(connect(`${server.url}/echo`), 'the listener is closed');
      for (const client of clients.splice(0)) await closeClient(client);
      await server.waitForLog(/drained why=all-ended/, 10_000);
      // The page leaves too: its idle keep-alive connection would hold the drained process until
      // its exit deadline (drain-timeout and a few seconds) rather than until its clients have gone.
      const left = Date.now();
      await context.close();
      const [code] = await exited;
      assert.equal(code, 0);
      const exitMs = Date.now() - left;
      assert.ok(exitMs < 5000, `exited ${exitMs} ms after the last client and the page left (drain-timeout 20 s)`);

      const foreign = requested.filter((url) => !url.startsWith(`http://127.0.0.1:${server.port}/`));
      assert.deepEqual(foreign, [], 'every request goes to websocksy itself');
      assert.ok(requested.some((url) => url.endsWith('/uPlot.iife.min.js')), 'uPlot came from websocksy');
    } finally {
      await context.close();
    }
  });
});

async function waitForText(page: Page, selector: string, text: string): Promise<void> {
  await page.waitForFunction(([sel, want]) => (globalThis as unknown as PageGlobals).document.querySelector(sel)?.textContent?.trim().startsWith(want) === true, [selector, text] as const, { timeout: 15_000 });
}
