/*
 * curl, the HTTP client nobody on the team wrote, as the route tests run it: silent but for its
 * errors, bounded in time, its output kept as bytes. `curl` rejects on any exit but 0, with curl's
 * own message, so a test never reads half an answer as a whole one; `runCurl` hands the exit code
 * to a test that expects a failure. Debian 12's curl (7.88) has
 * no ws://: it drives plain HTTP only.
 */
import { execFile } from 'node:child_process';
import { findProgram, requireProgram, skipUnlessInstalled } from './tools.js';

export const CURL = findProgram(['/usr/bin/curl', '/usr/local/bin/curl']);

/** A suite's or test's `skip` option: skipped outside CI when curl is missing, failed in CI. */
export const SKIP_WITHOUT_CURL = skipUnlessInstalled(CURL !== undefined, 'curl (apt-get install curl)');

export interface CurlOutput {
  readonly stdout: Buffer;
  /** What `--verbose` or `--show-error` wrote. */
  readonly stderr: string;
  /** stdout as bytes-per-character text: what `--write-out` and `--include` print is ASCII. */
  readonly text: string;
}

/** The answer `--include` printed: its status, its head (status line and headers) and its body. */
export interface CurlReply {
  readonly status: number;
  readonly head: string;
  readonly body: string;
}

/** curl's run to its end, whatever its exit code (`man curl`, EXIT CODES: 18 is a body cut short). */
export interface CurlRun extends CurlOutput {
  readonly code: number;
  /** Seconds from start to exit. */
  readonly seconds: number;
}

/** Runs `curl --silent --show-error --max-time MAX ARGS` to its end; rejects only when curl cannot run. */
export function runCurl(args: readonly string[], maxTimeSeconds = 10): Promise<CurlRun> {
  const program = requireProgram(CURL, 'curl');
  const started = performance.now();
  return new Promise((resolve, reject) => {
    execFile(program, ['--silent', '--show-error', '--max-time', String(maxTimeSeconds), ...args], { encoding: 'buffer', maxBuffer: 64 * 1024 * 1024 }, (error, stdout, stderr) => {
      const ran = (code: number): CurlRun => ({ code, stdout, stderr: stderr.toString(), text: stdout.toString('latin1'), seconds: (performance.now() - started) / 1000 });
      if (error === null) resolve(ran(0));
      else if (typeof error.code === 'number') resolve(ran(error.code));
      else reject(error);
    });
  });
}

/** The same, rejecting with curl's own message unless it exits 0. */
export async function curl(args: readonly string[], maxTimeSeconds?: number): Promise<CurlOutput> {
  const run = await runCurl(args, maxTimeSeconds);
  if (run.code !== 0) throw new Error(`curl ${args.join(' ')}: exit ${run.code}: ${run.stderr.trim()}`);
  return run;
}

/** `curl --include ARGS`, its answer split at the end of the head. */
export async function curlReply(args: readonly string[], maxTimeSeconds?: number): Promise<CurlReply> {
  const { text } = await curl(['--include', ...args], maxTimeSeconds);
  const end = text.indexOf('\r\n\r\n');
  const head = end === -1 ? text : text.slice(0, end);
  return { status: Number(head.split(' ')[1]), head, body: end === -1 ? '' : text.slice(end + 4) };
}
