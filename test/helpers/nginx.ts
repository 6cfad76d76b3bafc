/*
 * A private nginx for tests: its own prefix folder, config, pid, logs and temp paths, one
 * process (no master), started on the caller's `server { … }` blocks.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';

/** Writes `prefix`/nginx.conf around `servers` and starts nginx on it; the caller waits until it answers. */
export function startNginx(program: string, prefix: string, servers: string): ChildProcess {
  for (const sub of ['logs', 'tmp']) mkdirSync(`${prefix}/${sub}`, { recursive: true });
  writeFileSync(`${prefix}/nginx.conf`, `
daemon off;
master_process off;
pid ${prefix}/nginx.pid;
error_log ${prefix}/logs/error.log warn;
events { worker_connections 256; }
http {
    access_log off;
    client_body_temp_path ${prefix}/tmp;
    proxy_temp_path ${prefix}/tmp;
${servers}
}`);
  return spawn(program, ['-p', prefix, '-c', `${prefix}/nginx.conf`, '-e', `${prefix}/logs/error.log`], { stdio: 'inherit' });
}
