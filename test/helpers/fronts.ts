/*
 * Private Apache httpd and Caddy instances for tests, each in a folder of the test's own: its
 * config, pid, logs and state there, in the foreground, stopped by the caller (stopProgram).
 * The caller waits until it accepts connections (programs.ts, accepting).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, openSync, writeFileSync } from 'node:fs';
import { findProgram } from './tools.js';

export const APACHE = findProgram(['/usr/sbin/apache2']);
export const CADDY = findProgram(['/usr/bin/caddy']);
const APACHE_MODULES = '/usr/lib/apache2/modules';

/** Apache httpd (Debian's apache2, event MPM) on 127.0.0.1:`port`, with `directives` after the server's own. */
export function startApache(program: string, dir: string, port: number, directives: string): ChildProcess {
  mkdirSync(`${dir}/logs`, { recursive: true });
  const modules = ['mpm_event', 'authz_core', 'proxy', 'proxy_http'];
  writeFileSync(
    `${dir}/httpd.conf`,
    [
      `ServerRoot ${dir}`,
      'ServerName localhost',
      `DefaultRuntimeDir ${dir}/logs`,
      `PidFile ${dir}/logs/httpd.pid`,
      `ErrorLog ${dir}/logs/error.log`,
      `Listen 127.0.0.1:${port}`,
      ...modules.map((name) => `LoadModule ${name}_module ${APACHE_MODULES}/mod_${name}.so`),
      // Children drop root for this user, as Debian's own config does; ignored when not root.
      'User www-data',
      'Group www-data',
      directives,
      '',
    ].join('\n'),
  );
  return spawn(program, ['-f', `${dir}/httpd.conf`, '-DFOREGROUND'], { stdio: 'inherit' });
}

/** Caddy on `caddyfile` (site blocks), without its admin endpoint or automatic HTTPS, its state and log in `dir`. */
export function startCaddy(program: string, dir: string, caddyfile: string): ChildProcess {
  writeFileSync(`${dir}/Caddyfile`, `{\n\tadmin off\n\tauto_https off\n\tstorage file_system ${dir}/data\n}\n${caddyfile}`);
  const env = { ...process.env, HOME: dir, XDG_DATA_HOME: dir, XDG_CONFIG_HOME: dir };
  return spawn(program, ['run', '--config', `${dir}/Caddyfile`, '--adapter', 'caddyfile'], { stdio: ['ignore', 'ignore', openSync(`${dir}/caddy.log`, 'w')], env });
}
