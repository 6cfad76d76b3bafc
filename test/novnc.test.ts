/*
 * noVNC, the viewer most users put in front of a bridge like this one, as Debian ships it
 * (/usr/share/novnc, vnc_lite.html unchanged), in Chromium, through websocksy to TigerVNC's Xvnc:
 * websocksy serves the viewer's files from a static route and bridges its WebSocket (the default
 * path, /websockify) to the VNC server. The page must say it is connected to the desktop by the
 * name Xvnc gives, and its canvas must show each colour the X screen is painted, which takes
 * RFB both ways (the viewer asks for every update it gets). Closing the page ends the VNC
 * connection cleanly. With the file backend, noVNC's path picks one of two desktops, and a path
 * with no file is refused. Without Chromium, noVNC or Xvnc the test skips (with CI=true it fails:
 * .ci/run installs them).
 */
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import type { BrowserContext, Page } from 'playwright-core';
import { CHROMIUM, launchChromium } from './helpers/chromium.js';
import { tempDir } from './helpers/peers.js';
import { requireProgram, skipUnlessInstalled } from './helpers/tools.js';
import { startWebsocksy } from './helpers/websocksy.js';
import { startXvnc, XSETROOT, XVNC, type Xvnc } from './helpers/xvnc.js';
import { until } from './helpers/session-client.js';

const NOVNC = '/usr/share/novnc';
const DESKTOP = 'websocksy-novnc';
const INSTALLED = CHROMIUM !== undefined && XVNC !== undefined && XSETROOT !== undefined && existsSync(join(NOVNC, 'vnc_lite.html'));

/** The colour at the middle of noVNC's canvas, as "r,g,b" (empty before it has one). Page code, as text: this project's TypeScript has no DOM types. */
const MIDDLE_PIXEL = `(() => {
  const canvas = document.querySelector('#screen canvas');
  if (canvas === null || canvas.width === 0) return '';
  const [r, g, b] = canvas.getContext('2d').getImageData(canvas.width >> 1, canvas.height >> 1, 1, 1).data;
  return [r, g, b].join();
})()`;
/** How many of the canvas's pixels are `#ff0000`, how many `#0000ff`, and how many anything else. */
const RED_BLUE_OTHER = `(() => {
  const canvas = document.querySelector('#screen canvas');
  const data = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height).data;
  const counts = [0, 0, 0];
  for (let i = 0; i < data.length; i += 4) {
    const rgb = (data[i] << 16) | (data[i + 1] << 8) | data[i + 2];
    counts[rgb === 0xff0000 ? 0 : rgb === 0x0000ff ? 1 : 2]++;
  }
  return counts.join();
})()`;
const STATUS = `document.getElementById('status')?.textContent ?? ''`;

/** Opens `url` in a new page of `context` and waits for noVNC to say it is connected to `desktop`. */
async function connectedViewer(context: BrowserContext, url: string, desktop: string): Promise<Page> {
  const page = await context.newPage();
  await page.goto(url, { timeout: 15_000 });
  await untilStatus(page, `Connected to ${desktop}`);
  return page;
}

async function untilStatus(page: Page, wanted: string): Promise<void> {
  let status = '';
  await until(
    async () => {
      status = await page.evaluate<string>(STATUS);
      return status === wanted;
    },
    15_000,
    () => `noVNC's status saying "${wanted}": it says "${status}"`,
  );
}

/** Paints `vnc` one colour and waits for `page`'s canvas to show it. */
async function shows(page: Page, vnc: Xvnc, color: string, rgb: readonly number[]): Promise<void> {
  await vnc.paint(['-solid', color]);
  let shown = '';
  await until(
    async () => {
      shown = await page.evaluate<string>(MIDDLE_PIXEL);
      return shown === rgb.join();
    },
    10_000,
    () => `the canvas showing ${color}: it shows ${shown}`,
  );
}

describe('noVNC in Chromium through websocksy to a real VNC server', { timeout: 120_000, skip: skipUnlessInstalled(INSTALLED, 'chromium, novnc, tigervnc-standalone-server and x11-xserver-utils (apt-get install …)') }, () => {
  test("vnc_lite.html, served by websocksy, connects through the bridge to Xvnc and shows every colour the screen is painted", async () => {
    const dir = tempDir('websocksy-novnc-');
    assert.ok(existsSync(join(NOVNC, 'vnc_lite.html')), 'novnc is required here (.ci/run installs it)');
    const vnc = await startXvnc(requireProgram(XVNC, 'Xvnc (tigervnc-standalone-server)'), requireProgram(XSETROOT, 'xsetroot (x11-xserver-utils)'), DESKTOP, '640x480');
    const config = join(dir.path, 'websocksy.cfg');
    writeFileSync(config, ['[core]', 'listen = 127.0.0.1', 'port = 0', '[backend]', `host = tcp://127.0.0.1:${vnc.port}`, 'framing = binary', '[route /novnc]', `static = ${NOVNC}`, ''].join('\n'));
    const server = await startWebsocksy([config]);
    const context = await launchChromium(join(dir.path, 'profile'));
    try {
      const page = await connectedViewer(context, `http://127.0.0.1:${server.port}/novnc/vnc_lite.html`, DESKTOP);
      await shows(page, vnc, '#ff0000', [255, 0, 0]);
      await shows(page, vnc, '#0000ff', [0, 0, 255]);
      await shows(page, vnc, '#20c040', [0x20, 0xc0, 0x40]);
      // A plaid of both colours: Tight's zlib-compressed rectangles, which noVNC inflates, so a byte
      // lost or changed on the way would show or break the stream.
      await vnc.paint(['-mod', '3', '5', '-fg', '#ff0000', '-bg', '#0000ff']);
      let counts = '';
      await until(
        async () => {
          counts = await page.evaluate<string>(RED_BLUE_OTHER);
          const [red = 0, blue = 0, other = 1] = counts.split(',').map(Number);
          return red > 0 && blue > 0 && other === 0;
        },
        10_000,
        () => `the canvas showing a red and blue plaid: red, blue, other pixels ${counts}`,
      );
      await server.waitForLog(/open .*peer=tcp:\/\/127\.0\.0\.1:\d+/);
      await page.close();
      await server.waitForLog(/close .*code=100[01]/);
      await until(() => /Connections: closed: 127\.0\.0\.1/i.test(vnc.log()), 10_000, () => `Xvnc seeing the viewer leave; its log: ${vnc.log()}`);
    } finally {
      await context.close();
      await server.stop();
      await vnc.stop();
      dir.remove();
    }
  });

  test("the file backend picks the desktop by noVNC's path, one file per VNC server, as websockify's token files do", async () => {
    const dir = tempDir('websocksy-novnc-file-');
    const xvnc = requireProgram(XVNC, 'Xvnc (tigervnc-standalone-server)');
    const xsetroot = requireProgram(XSETROOT, 'xsetroot (x11-xserver-utils)');
    const office = await startXvnc(xvnc, xsetroot, 'desk-office');
    const lab = await startXvnc(xvnc, xsetroot, 'desk-lab');
    mkdirSync(join(dir.path, 'peers'));
    writeFileSync(join(dir.path, 'peers', 'vnc_office'), `tcp://127.0.0.1:${office.port} * binary\n`);
    writeFileSync(join(dir.path, 'peers', 'vnc_lab'), `tcp://127.0.0.1:${lab.port} * binary\n`);
    const config = join(dir.path, 'websocksy.cfg');
    writeFileSync(config, ['[core]', 'listen = 127.0.0.1', 'port = 0', 'backend = file', 'allow-peers = tcp:127.0.0.1:*', '[backend]', 'path = peers', 'expression = %endpoint%', '[route /novnc]', `static = ${NOVNC}`, ''].join('\n'));
    const server = await startWebsocksy([config]);
    const context = await launchChromium(join(dir.path, 'profile'));
    try {
      const viewer = (path: string): string => `http://127.0.0.1:${server.port}/novnc/vnc_lite.html?path=${path}`;
      const officePage = await connectedViewer(context, viewer('vnc/office'), 'desk-office');
      const labPage = await connectedViewer(context, viewer('vnc/lab'), 'desk-lab');
      await shows(officePage, office, '#ff0000', [255, 0, 0]);
      await shows(labPage, lab, '#0000ff', [0, 0, 255]);
      assert.equal(await officePage.evaluate<string>(MIDDLE_PIXEL), '255,0,0', 'the office viewer still shows the office');
      const nowhere = await context.newPage();
      await nowhere.goto(viewer('vnc/nowhere'), { timeout: 15_000 });
      await untilStatus(nowhere, 'Something went wrong, connection is closed');
      await server.waitForLog(/refused .*endpoint=\/vnc\/nowhere status="404 Not Found" .*reason=no-peer/);
    } finally {
      await context.close();
      await server.stop();
      await office.stop();
      await lab.stop();
      dir.remove();
    }
  });
});
