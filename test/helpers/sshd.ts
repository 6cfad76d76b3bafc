/*
 * A private OpenSSH server (Debian's openssh-server) for a test or a benchmark: its own host key,
 * one user key, its config and pid file in the caller's folder, on a free 127.0.0.1 port, key
 * logins only. `clientOptions` are what OpenSSH's ssh and scp need to log in to it (or to any
 * port that leads to it: a tunnel, a relay) without asking anything.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { userInfo } from 'node:os';
import { freePort } from './instances.js';
import { accepting, stopProgram } from './programs.js';
import { findProgram } from './tools.js';

export const SSHD = findProgram(['/usr/sbin/sshd']);
export const SSH = findProgram(['/usr/bin/ssh']);
export const SCP = findProgram(['/usr/bin/scp']);
export const SSH_KEYGEN = findProgram(['/usr/bin/ssh-keygen']);

export interface PrivateSshd {
  readonly port: number;
  /** The user to log in as: whoever runs this. */
  readonly user: string;
  /** Options for ssh (`-p`) or scp (`-P`), given the port that leads to this server. */
  clientOptions(): string[];
  stop(): Promise<void>;
}

function keygen(program: string, args: readonly string[]): Buffer {
  const made = spawnSync(program, args);
  if (made.status !== 0) throw new Error(`ssh-keygen ${args.join(' ')} failed: ${made.stderr.toString()}`);
  return made.stdout;
}

/** Starts sshd with its files in `dir`; throws, with sshd's own words, when it does not come up. */
export async function startSshd(dir: string): Promise<PrivateSshd> {
  if (SSHD === undefined || SSH_KEYGEN === undefined) throw new Error('openssh-server is not installed (apt-get install openssh-server openssh-client)');
  for (const key of ['host_key', 'user_key']) keygen(SSH_KEYGEN, ['-q', '-t', 'ed25519', '-N', '', '-f', `${dir}/${key}`]);
  writeFileSync(`${dir}/authorized_keys`, keygen(SSH_KEYGEN, ['-y', '-f', `${dir}/user_key`]));
  // sshd refuses to start without its privilege separation directory (root only; a user's sshd has none).
  if (process.getuid?.() === 0) mkdirSync('/run/sshd', { recursive: true, mode: 0o755 });
  const port = await freePort();
  writeFileSync(`${dir}/sshd_config`, [
    `Port ${port}`, 'ListenAddress 127.0.0.1', `HostKey ${dir}/host_key`, `PidFile ${dir}/sshd.pid`,
    `AuthorizedKeysFile ${dir}/authorized_keys`, 'PasswordAuthentication no', 'KbdInteractiveAuthentication no',
    'PermitRootLogin prohibit-password', 'StrictModes no', 'UsePAM no',
    // scp speaks SFTP since OpenSSH 9.0, as Debian's own sshd_config allows.
    'Subsystem sftp internal-sftp', '',
  ].join('\n'));
  const sshd: ChildProcess = spawn(SSHD, ['-D', '-e', '-f', `${dir}/sshd_config`], { stdio: ['ignore', 'ignore', 'pipe'] });
  let log = '';
  sshd.stderr?.on('data', (chunk: Buffer) => (log += chunk.toString()));
  try {
    await accepting(port);
  } catch (error) {
    await stopProgram(sshd);
    throw new Error(`sshd did not start: ${String(error)}\n${log}`);
  }
  return {
    port,
    user: userInfo().username,
    clientOptions: () => [
      '-i', `${dir}/user_key`, '-F', '/dev/null',
      '-o', 'BatchMode=yes', '-o', 'StrictHostKeyChecking=no', '-o', `UserKnownHostsFile=${dir}/known_hosts`,
      '-o', 'ConnectTimeout=10', '-o', 'LogLevel=ERROR',
    ],
    stop: () => stopProgram(sshd),
  };
}
