/*
 * noVNC, the viewer most users put in front of a bridge like this one, as Debian ships it
 * (/usr/share/novnc, vnc_lite.html unchanged), in Chromium, through websocksy to TigerVNC's Xvnc:
 * websocksy serves the viewer's files from a static route and bridges its WebSocket (the default
 * path, /websockify) to the VNC server. The page must say it is connected to the desktop by the
 * name Xvnc gives, and its canvas must show each colour the X screen is painted, which takes
 * RFB both ways (the viewer asks for every update it gets). Closing the page ends the VNC
 * connection cleanly. Without Chromium, noVNC or Xvnc the test skips (with CI=true it fails:
 * .ci/run installs them).
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { CHROMIUM, launchChromium } from './helpers/chromium.js';
import { tempDir } from './helpers/peers.js';
import { requireProgram, skipUnlessInstalled } from './helpers/tools.js';
import { startWebsocksy } from './helpers/websocksy.js';
import { startXvnc, XSETROOT, XVNC } from './helpers/xvnc.js';
import { writeFileSync } from 'node:fs';
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
      const page = context.pages()[0] ?? (await context.newPage());
      await page.goto(`http://127.0.0.1:${server.port}/novnc/vnc_lite.html`, { timeout: 15_000 });
      let status = '';
      await until(
        async () => {
          status = await page.evaluate<string>(STATUS);
          return status === `Connected to ${DESKTOP}`;
        },
        15_000,
        () => `noVNC's status saying it is connected to ${DESKTOP}: it says "${status}"`,
      );
      for (const [color, rgb] of [
        ['#ff0000', [255, 0, 0]],
        ['#0000ff', [0, 0, 255]],
        ['#20c040', [0x20, 0xc0, 0x40]],
      ] as const) {
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
});
