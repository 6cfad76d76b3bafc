/*
 * websocksy under systemd: the readiness protocol spoken on a real datagram socket as systemd
 * binds it (READY=1 once listening, RELOADING=1 then READY=1 on SIGHUP, STOPPING=1 on SIGTERM),
 * and the shipped unit file read by systemd's own systemd-analyze (verify, and its offline
 * security score).
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';
import { promisify } from 'node:util';
import { createSocket, type UnixDgramSocket } from 'unix-dgram';
import { tempDir } from './helpers/peers.js';
import { findProgram, requireProgram, skipUnlessInstalled } from './helpers/tools.js';
import { ROOT, startWebsocksy } from './helpers/websocksy.js';

const run = promisify(execFile);
const LOCAL = ['-l', '127.0.0.1', '-p', '0', '-k', '0', '-c', 'host=tcp://127.0.0.1:9'];
const UNIT = `${ROOT}examples/systemd/websocksy.service`;

/** A notify socket as systemd binds one; `next()` resolves with the next datagram's fields. */
class NotifySocket {
  private readonly socket: UnixDgramSocket;
  private readonly received: Record<string, string>[] = [];
  private waiter: (() => void) | null = null;

  constructor(readonly path: string) {
    this.socket = createSocket('unix_dgram', (message) => {
      const fields: Record<string, string> = {};
      for (const line of message.toString('utf8').split('\n')) {
        const equals = line.indexOf('=');
        if (equals > 0) fields[line.slice(0, equals)] = line.slice(equals + 1);
      }
      this.received.push(fields);
      this.waiter?.();
    });
    this.socket.bind(path);
  }

  async next(timeoutMs = 10_000): Promise<Record<string, string>> {
    const deadline = Date.now() + timeoutMs;
    while (this.received.length === 0) {
      assert.ok(Date.now() < deadline, 'no notification from websocksy in time');
      await new Promise<void>((resolve) => {
        this.waiter = resolve;
        setTimeout(resolve, 100);
      });
    }
    return this.received.shift() as Record<string, string>;
  }

  close(): void {
    this.socket.close();
  }
}

describe('the readiness protocol of Type=notify', () => {
  const folder = tempDir('websocksy-notify-');
  let systemd: NotifySocket;
  before(() => {
    systemd = new NotifySocket(`${folder.path}/notify`);
  });
  after(() => {
    systemd.close();
    folder.remove();
  });

  test("READY=1 once listening, RELOADING=1 and READY=1 around a SIGHUP, STOPPING=1 and the drain's STATUS on SIGTERM, then a prompt exit", async () => {
    const server = await startWebsocksy(LOCAL, { env: { NOTIFY_SOCKET: systemd.path } });
    const ready = await systemd.next();
    assert.equal(ready['READY'], '1');
    assert.equal(ready['STATUS'], `listening on 127.0.0.1 port ${server.port}`);

    server.process.kill('SIGHUP');
    const reloading = await systemd.next();
    assert.equal(reloading['RELOADING'], '1');
    assert.match(reloading['MONOTONIC_USEC'] ?? '', /^\d+$/);
    assert.deepEqual(await systemd.next(), { READY: '1', STATUS: `listening on 127.0.0.1 port ${server.port}, reloaded` });

    const started = Date.now();
    assert.equal(await server.stop('SIGTERM'), 0);
    assert.deepEqual(await systemd.next(), { STOPPING: '1' });
    // The drain (SIGTERM) says what is left; with nothing open it ends at once.
    assert.match((await systemd.next())['STATUS'] ?? '', /^draining: 0 WebSockets, 0 sessions, 0 tunnel streams, 0 HTTP requests open, deadline in 30 s$/);
    // With no connection open, nothing but the notify socket could hold the process up.
    assert.ok(Date.now() - started < 3000, `exited ${Date.now() - started} ms after SIGTERM`);
  });

  test('an abstract or missing notify socket costs a warning, not the server', async () => {
    for (const [notifySocket, warning] of [
      ['@websocksy-test-abstract', /NOTIFY_SOCKET is not a socket path/],
      [`${folder.path}/nobody-listens`, /cannot notify systemd .*ENOENT/],
    ] as const) {
      const server = await startWebsocksy(LOCAL, { env: { NOTIFY_SOCKET: notifySocket } });
      try {
        await server.waitForLog(warning);
      } finally {
        assert.equal(await server.stop(), 0);
      }
    }
  });
});

const analyze = findProgram(['/usr/bin/systemd-analyze', '/bin/systemd-analyze']);

describe('examples/systemd/websocksy.service', { skip: skipUnlessInstalled(analyze !== undefined, "systemd-analyze (Debian's systemd)") }, () => {
  const folder = tempDir('websocksy-unit-');
  // The unit names the command where `npm install -g` puts it; verify needs one that exists.
  const unit = `${folder.path}/websocksy.service`;
  before(() => writeFileSync(unit, readFileSync(UNIT, 'utf8').replaceAll('/usr/local/bin/websocksy', `${ROOT}bin/websocksy`)));
  after(() => folder.remove());

  test('systemd-analyze verify finds nothing to say about it', async () => {
    const { stdout, stderr } = await run(requireProgram(analyze, 'systemd-analyze'), ['verify', unit], { timeout: 60_000 });
    assert.equal(stdout + stderr, '');
  });

  test('its sandboxing scores "OK" or better in systemd-analyze security', async () => {
    const { stdout } = await run(requireProgram(analyze, 'systemd-analyze'), ['security', '--offline=yes', '--no-pager', unit], { timeout: 60_000 });
    const score = /Overall exposure level for websocksy\.service: ([\d.]+) (\w+)/.exec(stdout);
    assert.ok(score !== null, stdout);
    assert.ok(Number(score[1]) <= 3, `exposure ${score[1]} ${score[2]}`);
  });
});
