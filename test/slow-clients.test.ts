/*
 * Slow clients, sent by slowhttptest (Debian's slow-HTTP attack tool, written by none of us):
 * many connections that send their request head a few bytes at a time (Slowloris), or take an
 * HTTP route's answer a few bytes at a time (Slow Read). Each must cost only its own connection,
 * for a time that does not grow with the attacker's patience: uWS closes a request head that is
 * not complete, and a response that is not taken, after its HTTP idle timeout, however the bytes
 * trickle (docs/limits.md, "The handshake, end to end": about 10 s on uWS 20.30, 30 s on 20.57).
 * Meanwhile everyone else is served.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';
import { closeClient, connect } from './helpers/client.js';
import { send, startUpstream, type Upstream } from './helpers/http-upstream.js';
import { tcpEcho, tempDir, type Peer } from './helpers/peers.js';
import { stopProgram } from './helpers/programs.js';
import { until } from './helpers/session-client.js';
import { findProgram, requireProgram, skipUnlessInstalled } from './helpers/tools.js';
import { startWebsocksy, type RunningWebsocksy } from './helpers/websocksy.js';

const slowhttptest = findProgram(['/usr/bin/slowhttptest']);
const skip = skipUnlessInstalled(slowhttptest !== undefined, 'slowhttptest (Debian package slowhttptest)');

/** The longest uWS's HTTP idle timeout was measured at (28.9 s on 20.57), with room for its timer's tick. */
const CLOSED_WITHIN_MS = 45_000;
const ATTACKERS = 100;
const DOWNLOAD_BYTES = 4 << 20;
/** websocksy's log line for an answer cut short: one per slow reader, and one per probe slowhttptest sends beside them. */
const CUT = /http response cut .*path=\/r\/download /g;

interface Attack {
  readonly child: ChildProcess;
  output(): string;
}

function attack(args: readonly string[]): Attack {
  // stdbuf: slowhttptest prints its status through stdio, which holds it back when writing to a pipe.
  const child = spawn('stdbuf', ['-o0', requireProgram(slowhttptest, 'slowhttptest'), '-v', '1', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  // Its status screens are drawn with terminal escapes: kept as plain text.
  const keep = (chunk: Buffer): void => {
    output += chunk.toString('latin1').replace(/\x1b\[[0-9;]*[A-Za-z]/g, '');
  };
  child.stdout.on('data', keep);
  child.stderr.on('data', keep);
  return { child, output: () => output };
}

/** A WebSocket client echoed through the bridge, and a request through the route, both answered while the attack goes on. */
async function othersServed(proxy: RunningWebsocksy): Promise<void> {
  const client = await connect(`${proxy.url}/`);
  client.ws.send('served during the attack\n');
  assert.equal((await client.next()).data.toString(), 'served during the attack\n');
  await closeClient(client);
  const reply = await send(proxy.port, '/r/download?bytes=1024');
  assert.equal(reply.status, 200);
  assert.equal(reply.bytes, 1024);
}

describe('slowhttptest against websocksy: slow clients cost only their own connections, for a bounded time', { skip }, () => {
  const dir = tempDir('websocksy-slow-clients-');
  let echo: Peer;
  let upstream: Upstream;
  let proxy: RunningWebsocksy;

  before(async () => {
    echo = await tcpEcho();
    upstream = await startUpstream();
    const config = `${dir.path}/websocksy.cfg`;
    const echoPort = echo.address.split(':').at(-1) ?? '';
    writeFileSync(config, `[core]\nlisten = 127.0.0.1\nport = 0\n[backend]\nhost = tcp://127.0.0.1\nport = ${echoPort}\n[route /r]\nto = http://127.0.0.1:${upstream.port}/r\n`);
    proxy = await startWebsocksy([config]);
  });
  after(async () => {
    await proxy.stop();
    await upstream.close();
    await echo.close();
    dir.remove();
  });

  test(`Slowloris: ${ATTACKERS} request heads sent a header line every 2 s are all closed, and others are served meanwhile`, async () => {
    const started = Date.now();
    // -l: longer than the bound, so that an ending before it is websocksy's doing, not the tool's.
    const attacker = attack(['-H', '-c', String(ATTACKERS), '-r', String(ATTACKERS), '-i', '2', '-x', '8', '-l', '120', '-p', '5', '-u', `http://127.0.0.1:${proxy.port}/`]);
    try {
      // Its status comes every 5 s: wait for one that has most of the connections open.
      const opened = new RegExp(`connected:\\s+(${ATTACKERS}|[5-9]\\d)\\b`);
      await until(() => opened.test(attacker.output()), 15_000, 'the attack did not get its connections open');
      await othersServed(proxy);
      const exited = (): boolean => attacker.child.exitCode !== null || attacker.child.signalCode !== null;
      await until(exited, CLOSED_WITHIN_MS - (Date.now() - started), () => `slowhttptest still had open connections ${CLOSED_WITHIN_MS} ms after its start:\n${attacker.output().slice(-2000)}`);
      assert.match(attacker.output(), /Exit status: No open connections left/);
      assert.doesNotMatch(attacker.output(), /service available:\s+NO/, 'its probe found the server unavailable');
    } finally {
      await stopProgram(attacker.child, 'SIGKILL');
    }
  });

  test(`Slow Read: ${ATTACKERS} route answers of 4 MiB taken 32 bytes every 5 s are all cut, and others are served meanwhile`, async () => {
    const cutBefore = (proxy.log().match(CUT) ?? []).length;
    const attacker = attack(['-X', '-c', String(ATTACKERS), '-r', String(ATTACKERS), '-w', '512', '-y', '1024', '-n', '5', '-z', '32', '-l', '120', '-p', '5', '-u', `http://127.0.0.1:${proxy.port}/r/download?bytes=${DOWNLOAD_BYTES}`]);
    try {
      await new Promise((resolve) => setTimeout(resolve, 4000));
      await othersServed(proxy);
      // slowhttptest reads too slowly to see its connections closed; websocksy's log says when each answer was cut.
      const cut = (): number => (proxy.log().match(CUT) ?? []).length - cutBefore;
      await until(() => cut() >= ATTACKERS, CLOSED_WITHIN_MS, () => `${cut()} answers cut; websocksy's log ends:\n${proxy.log().slice(-3000)}`);
      assert.doesNotMatch(attacker.output(), /service available:\s+NO/, 'its probe found the server unavailable');
    } finally {
      await stopProgram(attacker.child, 'SIGKILL');
    }
  });
});
