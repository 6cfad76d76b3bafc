/*
 * The routes workload: HTTP requests through websocksy's reverse proxy (`[route] to = http://…`)
 * against nginx's `proxy_pass` with a keep-alive upstream pool, both with one worker, both in
 * front of the same private nginx serving a 1 KiB and a 1 MiB file. wrk (Debian's `wrk`) drives
 * each proxy in turn, interleaved and repeated, so that a machine getting busier or quieter
 * favours neither. CPU is the proxy process's own utime + stime from /proc; the upstream's and
 * wrk's are the same for both and not counted. Each proxy first serves both sizes untimed for a
 * few seconds (BENCH_WARMUP): a fresh websocksy runs its first seconds while V8 still compiles its
 * request path, and a proxy in service is warm. The proxy measured has a CPU to itself, wrk and
 * the upstream the others, and the runs move between two CPUs every two runs (cpu-layout.ts).
 * A third proxy, bench/anchors/bare-uws-route.mjs, is the stack's floor: uWS and node:net with
 * nothing of websocksy's, so each run also says how far websocksy is from what its stack can do
 * and how far that is from nginx on this machine.
 */
import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { commandOn, cpuLayout, placeRound } from './cpu-layout.js';
import { groupUsage, startProcess, type Started } from './processes.js';
import { median } from './rounds.js';
import { WEBSOCKSY } from './websocksy-command.js';

/** `BENCH_ROUTES_BASELINE=DIR`: another built websocksy (its bin/websocksy) measured beside, for before/after in one run. */
const BASELINE = process.env['BENCH_ROUTES_BASELINE'] ?? '';

export interface RouteFigure {
  readonly subject: 'websocksy' | 'nginx' | 'bare-uws' | 'baseline';
  readonly size: string;
  readonly repeat: number;
  /** The CPU the proxy ran on, or null when the run was not pinned. */
  readonly cpu: number | null;
  readonly requestsPerSecond: number;
  /** CPU µs of the proxy process per request answered. */
  readonly cpuMicros: number;
  /** Responses wrk counted as errors (socket errors, non-2xx): any is a failed run. */
  readonly errors: number;
}

/** The two sizes, each with its target: req/s at least this share of nginx's. */
const SIZES = [
  { name: '1 KiB', file: 'small', bytes: 1024, target: 0.7 },
  { name: '1 MiB', file: 'large', bytes: 1024 * 1024, target: 0.9 },
] as const;
/** Four, so that each proxy goes first once on each of the two CPUs the runs move between. */
const REPEATS = 4;
const WRK = '/usr/bin/wrk';
const NGINX = '/usr/sbin/nginx';

/** Why the workload cannot run here, or null. */
export function routesMissing(): string | null {
  if (spawnSync(WRK, ['-v']).error !== undefined) return `wrk is not installed (${WRK}): apt-get install wrk`;
  if (spawnSync(NGINX, ['-v']).error !== undefined) return `nginx is not installed (${NGINX}): apt-get install nginx-light`;
  return null;
}

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  if (address === null || typeof address === 'string') throw new Error('no free port');
  return address.port;
}

/** A pattern that a truncated or shifted body cannot match by accident. */
function body(bytes: number): Buffer {
  const out = Buffer.alloc(bytes);
  for (let i = 0; i < bytes; i++) out[i] = 0x21 + ((i * 7 + (i >> 10)) % 90);
  return out;
}

function nginxConf(prefix: string, server: string): string {
  for (const sub of ['logs', 'tmp']) mkdirSync(join(prefix, sub), { recursive: true });
  const conf = join(prefix, 'nginx.conf');
  writeFileSync(conf, `
daemon off;
master_process off;
worker_processes 1;
pid ${prefix}/nginx.pid;
error_log ${prefix}/logs/error.log warn;
events { worker_connections 1024; }
http {
    access_log off;
    client_body_temp_path ${prefix}/tmp;
    proxy_temp_path ${prefix}/tmp;
    fastcgi_temp_path ${prefix}/tmp;
    uwsgi_temp_path ${prefix}/tmp;
    scgi_temp_path ${prefix}/tmp;
${server}
}`);
  return conf;
}

async function startNginx(prefix: string, port: number, server: string): Promise<Started> {
  const conf = nginxConf(prefix, server);
  const started = await startProcess(NGINX, ['-p', prefix, '-c', conf, '-e', join(prefix, 'logs/error.log'), '-g', 'error_log stderr notice;'], /start worker process|using the "epoll"/, prefix);
  await waitForPort(port);
  return started;
}

async function waitForPort(port: number): Promise<void> {
  for (let i = 0; i < 100; i++) {
    const ok = await fetch(`http://127.0.0.1:${port}/`).then(() => true, () => false);
    if (ok) return;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(`nothing answers on port ${port}`);
}

interface WrkResult {
  readonly requests: number;
  readonly seconds: number;
  readonly errors: number;
}

/** wrk against `url`, on `cpus` when given. */
async function runWrk(url: string, seconds: number, cpus: string | null): Promise<WrkResult> {
  const [command, args] = commandOn(cpus, WRK, ['-t1', '-c32', `-d${seconds}s`, url]);
  const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
  const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
  const found = /(\d+) requests in ([\d.]+)(m?s)/.exec(out);
  if (code !== 0 || found === null) throw new Error(`wrk ${url} failed (${String(code)}):\n${out}`);
  const socketErrors = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(out);
  const non2xx = /Non-2xx or 3xx responses: (\d+)/.exec(out);
  const errors = (socketErrors === null ? 0 : socketErrors.slice(1).reduce((sum, n) => sum + Number(n), 0)) + Number(non2xx?.[1] ?? 0);
  return { requests: Number(found[1]), seconds: Number(found[2]) / (found[3] === 'ms' ? 1000 : 1), errors };
}

/** Fetches each size through `port` once and checks the body byte for byte before any timing. */
async function checkBodies(subject: string, port: number, expected: ReadonlyMap<string, Buffer>): Promise<void> {
  for (const { name, file } of SIZES) {
    const response = await fetch(`http://127.0.0.1:${port}/r/${file}`);
    const got = Buffer.from(await response.arrayBuffer());
    if (response.status !== 200 || !got.equals(expected.get(file) as Buffer)) {
      throw new Error(`${subject}: ${name} came back wrong (status ${response.status}, ${got.length} bytes)`);
    }
  }
}

export async function routeFigures(root: string, seconds: number, warmupSeconds: number): Promise<RouteFigure[]> {
  const dir = mkdtempSync(join(tmpdir(), 'websocksy-bench-routes-'));
  const running: Started[] = [];
  try {
    const www = join(dir, 'www');
    mkdirSync(www);
    const expected = new Map<string, Buffer>();
    for (const { file, bytes } of SIZES) {
      const content = body(bytes);
      expected.set(file, content);
      writeFileSync(join(www, file), content);
    }
    // The upstream: files from the page cache, descriptors kept open, so it costs far less per
    // request than either proxy.
    const upstreamPort = await freePort();
    const upstream = await startNginx(join(dir, 'upstream'), upstreamPort, `
    open_file_cache max=16;
    open_file_cache_valid 1h;
    sendfile on;
    tcp_nopush on;
    keepalive_requests 1000000;
    server {
        listen 127.0.0.1:${upstreamPort};
        location /r/ { alias ${www}/; default_type application/octet-stream; }
        location = / { return 200 "up\\n"; }
    }`);
    running.push(upstream);
    const nginxPort = await freePort();
    const nginx = await startNginx(join(dir, 'proxy'), nginxPort, `
    upstream files { server 127.0.0.1:${upstreamPort}; keepalive 32; keepalive_requests 1000000; }
    keepalive_requests 1000000;
    server {
        listen 127.0.0.1:${nginxPort};
        location / {
            proxy_pass http://files;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
        }
    }`);
    running.push(nginx);
    const config = join(dir, 'websocksy.cfg');
    writeFileSync(config, `[core]\nlisten = 127.0.0.1\nport = 0\n[route /r]\nto = http://127.0.0.1:${upstreamPort}/r\n`);
    const websocksy = await startProcess(process.execPath, [...WEBSOCKSY, config], /listening .*port=(\d+)/, root);
    running.push(websocksy);
    const barePort = await freePort();
    const bare = await startProcess(process.execPath, ['bench/anchors/bare-uws-route.mjs', String(barePort), '127.0.0.1', String(upstreamPort)], /listening port=(\d+)/, root);
    running.push(bare);
    const proxies: Array<{ readonly subject: RouteFigure['subject']; readonly port: number; readonly pid: number }> = [
      { subject: 'websocksy', port: Number(websocksy.match[1]), pid: websocksy.child.pid as number },
      { subject: 'nginx', port: nginxPort, pid: nginx.child.pid as number },
      { subject: 'bare-uws', port: barePort, pid: bare.child.pid as number },
    ];
    if (BASELINE !== '') {
      const baseline = await startProcess(process.execPath, [...WEBSOCKSY, config], /listening .*port=(\d+)/, BASELINE);
      running.push(baseline);
      proxies.push({ subject: 'baseline', port: Number(baseline.match[1]), pid: baseline.child.pid as number });
    }
    for (const proxy of proxies) await checkBodies(proxy.subject, proxy.port, expected);
    const layout = cpuLayout('routes');
    /** Puts the proxies on round `round`'s CPU and the upstream on the others; wrk's CPUs, or null unpinned. */
    const place = (round: number): string | null => placeRound(layout, round, proxies.map((proxy) => proxy.pid), [upstream.child.pid as number]);
    if (warmupSeconds > 0) {
      const wrkCpus = place(1);
      for (const proxy of proxies) {
        for (const { file } of SIZES) await runWrk(`http://127.0.0.1:${proxy.port}/r/${file}`, warmupSeconds, wrkCpus);
      }
    }

    const figures: RouteFigure[] = [];
    for (const { name, file } of SIZES) {
      for (let repeat = 1; repeat <= REPEATS; repeat++) {
        const wrkCpus = place(repeat);
        // Alternate who goes first, so that neither always runs on a warmer or quieter machine.
        const order = repeat % 2 === 1 ? proxies : [...proxies].reverse();
        for (const proxy of order) {
          const before = groupUsage(proxy.pid).cpuSeconds;
          const result = await runWrk(`http://127.0.0.1:${proxy.port}/r/${file}`, seconds, wrkCpus);
          const cpu = groupUsage(proxy.pid).cpuSeconds - before;
          figures.push({
            subject: proxy.subject,
            size: name,
            repeat,
            cpu: layout === null ? null : layout.subjectCpu(repeat),
            requestsPerSecond: result.requests / result.seconds,
            cpuMicros: (cpu / result.requests) * 1e6,
            errors: result.errors,
          });
        }
      }
    }
    return figures;
  } finally {
    for (const process of running.reverse()) await process.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

export function formatRoutesSection(figures: readonly RouteFigure[]): string {
  const lines = [
    '## HTTP routes: `[route] to = http://…` against nginx `proxy_pass` (keep-alive upstream), one worker each',
    '',
    '`wrk -t1 -c32`, the same private nginx upstream behind every proxy, each warmed up first (`BENCH_WARMUP`); the proxies take turns, the order reversed every run, each size repeated. The proxy measured runs on the CPU named, alone; wrk and the upstream on the others. Bare uWS is bench/anchors/bare-uws-route.mjs: uWS and node:net with none of websocksy\'s checks, the floor of its stack.',
    '',
    `| size | run | CPU | websocksy req/s | CPU µs/req | nginx req/s | CPU µs/req | ratio (req/s) | bare uWS req/s | CPU µs/req | websocksy ÷ bare | bare ÷ nginx | errors |${BASELINE === '' ? '' : ' baseline req/s | CPU µs/req | baseline ratio |'}`,
    `|---|---|---|---|---|---|---|---|---|---|---|---|---|${BASELINE === '' ? '' : '---|---|---|'}`,
  ];
  const medians: string[] = [];
  for (const { name, target } of SIZES) {
    const ratios: number[] = [];
    const toBare: number[] = [];
    const bareToNginx: number[] = [];
    for (let repeat = 1; repeat <= REPEATS; repeat++) {
      const of = (subject: RouteFigure['subject']): RouteFigure | undefined => figures.find((f) => f.subject === subject && f.size === name && f.repeat === repeat);
      const ours = of('websocksy');
      const theirs = of('nginx');
      const floor = of('bare-uws');
      if (ours === undefined || theirs === undefined || floor === undefined) continue;
      const base = of('baseline');
      const baseCells = base === undefined ? '' : ` ${base.requestsPerSecond.toFixed(0)} | ${base.cpuMicros.toFixed(0)} | ${(base.requestsPerSecond / theirs.requestsPerSecond).toFixed(2)} |`;
      ratios.push(ours.requestsPerSecond / theirs.requestsPerSecond);
      toBare.push(ours.requestsPerSecond / floor.requestsPerSecond);
      bareToNginx.push(floor.requestsPerSecond / theirs.requestsPerSecond);
      const errors = ours.errors + theirs.errors + floor.errors + (base?.errors ?? 0);
      lines.push(
        `| ${name} | ${repeat} | ${ours.cpu ?? 'any'} | ${ours.requestsPerSecond.toFixed(0)} | ${ours.cpuMicros.toFixed(0)} | ${theirs.requestsPerSecond.toFixed(0)} | ${theirs.cpuMicros.toFixed(0)} | ${(ours.requestsPerSecond / theirs.requestsPerSecond).toFixed(2)} | ${floor.requestsPerSecond.toFixed(0)} | ${floor.cpuMicros.toFixed(0)} | ${(toBare[toBare.length - 1] as number).toFixed(2)} | ${(bareToNginx[bareToNginx.length - 1] as number).toFixed(2)} | ${errors} |${baseCells}`,
      );
    }
    if (ratios.length === 0) continue;
    const middle = median(ratios);
    medians.push(`- ${name}: websocksy ÷ nginx, median of the runs ${middle.toFixed(2)} (target ≥ ${target}: ${middle >= target ? 'met' : 'MISSED'}); websocksy ÷ bare uWS ${median(toBare).toFixed(2)}, bare uWS ÷ nginx ${median(bareToNginx).toFixed(2)}`);
  }
  return [...lines, '', ...medians].join('\n') + '\n';
}
