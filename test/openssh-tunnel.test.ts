/*
 * OpenSSH through a websocksy tunnel, as a user of `websocksy forward` runs it: a private sshd
 * (Debian's openssh-server) on a free port, reached through a local forward (-L) and through a
 * remote listener (-R) of one tunnel session. OpenSSH's own client logs in with a key and moves
 * 8 MiB each way (stdin to `sha256sum` on the far side, a file back with `cat`); every byte is
 * checked. Nobody on this team wrote either end.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';
import { freePort } from './helpers/instances.js';
import { tempDir } from './helpers/peers.js';
import { SSH, SSH_KEYGEN, SSHD, startSshd, type PrivateSshd } from './helpers/sshd.js';
import { requireProgram, skipUnlessInstalled } from './helpers/tools.js';
import { startForward, startTunnelServer } from './helpers/tunnel.js';
import type { RunningWebsocksy } from './helpers/websocksy.js';

const TOKEN = 'openssh-token-do-not-log';
const BYTES = 8 * 1024 * 1024;

interface SshResult {
  readonly code: number | null;
  readonly stdout: Buffer;
  readonly stderr: string;
}

describe('OpenSSH through a tunnel', { skip: skipUnlessInstalled(SSHD !== undefined && SSH !== undefined && SSH_KEYGEN !== undefined, 'openssh-server') }, () => {
  const dir = tempDir('websocksy-openssh-');
  let sshd: PrivateSshd | undefined;
  let server: RunningWebsocksy | undefined;
  let client: (RunningWebsocksy & { ports: number[] }) | undefined;
  let remotePort = 0;
  const blob = randomBytes(BYTES);

  /** Runs `command` on the far side through `port` with OpenSSH's client, `input` on its stdin. */
  function ssh(port: number, command: string, input: Buffer | null): Promise<SshResult> {
    const far = sshd as PrivateSshd;
    const child = spawn(requireProgram(SSH, 'ssh'), ['-p', String(port), ...far.clientOptions(), `${far.user}@127.0.0.1`, command], { stdio: ['pipe', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => out.push(chunk));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.stdin.end(input ?? undefined);
    const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
    return new Promise((resolve) => {
      child.once('close', (code) => {
        clearTimeout(timer);
        resolve({ code, stdout: Buffer.concat(out), stderr });
      });
    });
  }

  before(async () => {
    writeFileSync(`${dir.path}/blob`, blob);
    sshd = await startSshd(dir.path);
    remotePort = await freePort();
    server = await startTunnelServer(dir.path, `office ${TOKEN} connect=127.0.0.1:${sshd.port} listen=127.0.0.1:${remotePort}\n`);
    client = await startForward(['-L', `0:127.0.0.1:${sshd.port}`, '-R', `127.0.0.1:${remotePort}:127.0.0.1:${sshd.port}`, `ws://office@127.0.0.1:${server.port}/.tunnel`, '--token', TOKEN], 1);
  });

  after(async () => {
    await client?.stop();
    await server?.stop();
    await sshd?.stop();
    dir.remove();
  });

  const expectedHash = (): string => createHash('sha256').update(blob).digest('hex');

  for (const way of ['-L', '-R'] as const) {
    test(`through ${way}: a key login, 8 MiB up to sha256sum and 8 MiB back with cat, byte for byte`, { timeout: 120_000 }, async () => {
      const port = way === '-L' ? (client?.ports[0] as number) : remotePort;
      const up = await ssh(port, 'sha256sum', blob);
      assert.equal(up.code, 0, up.stderr);
      assert.equal(up.stdout.toString().split(' ')[0], expectedHash());
      const down = await ssh(port, `cat ${dir.path}/blob`, null);
      assert.equal(down.code, 0, down.stderr);
      assert.equal(down.stdout.length, BYTES);
      assert.ok(down.stdout.equals(blob), 'the file came back changed');
    });
  }
});
