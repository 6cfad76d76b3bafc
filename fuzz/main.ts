/*
 * `make fuzz`: starts the targets and one websocksy, keeps a neighbour client echoing, runs
 * seeded cases of every class against all four targets until FUZZ_SECONDS have passed, waits a
 * quiet period, and reports. Exits 1 if the server died, the neighbour failed, the guard logged
 * an internal error, an oracle saw a request escape, a case's own code threw, or the server's
 * descriptors or memory did not come back near where they started (bounds below).
 * FUZZ_CASE=<seed> runs one case alone and shows its input and answer.
 */
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { tempDir } from '../test/helpers/peers.js';
import { HealthThread, type HealthResult } from './health-thread.js';
import { LogWatch } from './log-watch.js';
import { fuzzOptions, OptionError, type FuzzOptions } from './options.js';
import { PeakSampler, sampleProcess, type ProcessSample } from './process-stats.js';
import { delay } from './raw-connection.js';
import { formatReport } from './report.js';
import { Runner, type CaseRecord } from './runner.js';
import { startTargets, type Targets } from './targets.js';

const MIB = 1024 * 1024;
/**
 * After the quiet period every fuzz connection is gone, and with it every socket the server
 * opened for one; the tunnel grace (0.25 s) and the upstream's keep-alive timeout (0.5 s) are
 * shorter than the default quiet second. One descriptor of slack for a pool connection that
 * the health client's own /api request may have open at that moment.
 */
const FD_SLACK = 1;
/**
 * V8 gives memory back to the system lazily, so RSS after one quiet second stays above where
 * it started even when nothing leaks: allow 64 MiB or half the starting RSS, whichever is more.
 * A leak of a few KiB per case over a ten-minute run (tens of thousands of cases) exceeds it.
 */
function rssBound(start: ProcessSample): number {
  return start.rssBytes + Math.max(64 * MIB, start.rssBytes / 2);
}

function verdict(targets: Targets, runner: Runner, watch: LogWatch, health: HealthResult, start: ProcessSample, end: ProcessSample): string[] {
  const failures: string[] = [];
  const exit = targets.server.exited;
  if (exit !== null) failures.push(`the server died (exit code ${String(exit.code)}, signal ${String(exit.signal)}); its last lines:\n${targets.server.tail.join('\n')}`);
  if (health.failure !== null) failures.push(`the health client failed: ${health.failure}`);
  if (health.wsLatencies.length === 0 || health.httpLatencies.length === 0) failures.push('the health client never got an answer');
  if (watch.internalErrors.length > 0) failures.push(`${watch.internalErrors.length} internal error(s) logged`);
  if (targets.findings.length > 0) failures.push(`${targets.findings.length} oracle finding(s)`);
  if (runner.fuzzerErrors.length > 0) failures.push(`${runner.fuzzerErrors.length} case(s) failed in the fuzzer's own code`);
  if (exit === null && end.fds > start.fds + FD_SLACK) failures.push(`open fds did not come back: ${start.fds} at the start, ${end.fds} at the end (bound: start + ${FD_SLACK})`);
  const bound = rssBound(start);
  if (exit === null && end.rssBytes > bound) failures.push(`RSS did not come back: ${(start.rssBytes / MIB).toFixed(1)} MiB at the start, ${(end.rssBytes / MIB).toFixed(1)} MiB at the end (bound: ${(bound / MIB).toFixed(1)} MiB)`);
  if (runner.finished === 0) failures.push('no case finished');
  return failures;
}

async function replay(targets: Targets, options: FuzzOptions, seed: number): Promise<number> {
  const runner = new Runner(targets, options.classes, 1);
  const watch = new LogWatch(targets.server, () => [...runner.inFlight.values()]);
  const lines: string[] = [];
  targets.server.onLine((line) => lines.push(line));
  const { record, outcome } = await runner.runOne(seed);
  await delay(300);
  console.log(`case FUZZ_CASE=${seed}: ${record.kind} → ${record.target}\ninput: ${record.input}\nanswer: ${outcome.answer}`);
  if (outcome.extras !== undefined) console.log(`also seen: ${JSON.stringify(outcome.extras)}`);
  console.log(`server log during the case:\n${lines.join('\n')}`);
  for (const { error } of runner.fuzzerErrors) console.log(`fuzzer error: ${error}`);
  return watch.internalErrors.length > 0 || targets.findings.length > 0 || targets.server.exited !== null ? 1 : 0;
}

async function main(): Promise<number> {
  const options = fuzzOptions();
  console.log(`websocksy fuzz: FUZZ_SEED=${options.seed} FUZZ_SECONDS=${options.seconds} FUZZ_CONCURRENCY=${options.concurrency} classes=${options.classes.join(',')}`);
  const dir = tempDir('websocksy-fuzz-');
  const logPath = `${dir.path}/websocksy.log`;
  const targets = await startTargets(dir.path, logPath);
  console.log(`server pid ${targets.server.pid} on port ${targets.port}; its log: ${logPath}`);
  if (options.replayCase !== null) {
    const code = await replay(targets, options, options.replayCase);
    await targets.close();
    if (code === 0) dir.remove();
    return code;
  }

  const runner = new Runner(targets, options.classes, options.concurrency);
  const watch = new LogWatch(targets.server, () => [...runner.inFlight.values()]);
  targets.server.onExit(() => runner.stop());
  if (options.verbose) runner.onCase = (record, outcome) => console.log(`FUZZ_CASE=${record.seed} ${record.kind} → ${record.target} | ${outcome.answer} | ${record.input}`);
  const healthThread = await HealthThread.start(targets.port);
  let inFlightAtFailure: CaseRecord[] = [];
  healthThread.onFailure = () => {
    inFlightAtFailure = [...runner.inFlight.values()];
  };
  // A second of warm-up: the health connections are up and the server has served both once.
  await delay(1000);
  const start = sampleProcess(targets.server.pid);
  const sampler = new PeakSampler(targets.server.pid);
  const loop = monitorEventLoopDelay({ resolution: 10 });
  loop.enable();

  const startedAt = Date.now();
  await runner.run(options.seed, startedAt + options.seconds * 1000);
  const ranMs = Date.now() - startedAt;
  await delay(options.quietSeconds * 1000);
  const end = sampler.sample();
  sampler.stop();
  loop.disable();
  const health = await healthThread.stop();

  const failures = verdict(targets, runner, watch, health, start, end);
  await targets.close();
  const report = formatReport({
    seed: options.seed,
    seconds: options.seconds,
    concurrency: options.concurrency,
    ranMs,
    runner,
    watch,
    health: { wsLatencies: health.wsLatencies, httpLatencies: health.httpLatencies, failure: health.failure, inFlightAtFailure },
    loopDelay: { p99Ms: loop.percentile(99) / 1e6, maxMs: loop.max / 1e6 },
    server: { start, peak: sampler.peak, end, quietSeconds: options.quietSeconds },
    findings: targets.findings,
    failures,
    logPath: failures.length === 0 ? 'removed' : logPath,
  });
  console.log(report);
  if (failures.length === 0) dir.remove();
  return failures.length === 0 ? 0 : 1;
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    console.error(error instanceof OptionError ? error.message : error);
    process.exit(2);
  },
);
