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
import { LogWatch, Sightings } from './log-watch.js';
import { fuzzOptions, OptionError, type FuzzOptions } from './options.js';
import { PeakSampler, sampleProcess, type ProcessSample } from './process-stats.js';
import { delay } from './raw-connection.js';
import { formatReport } from './report.js';
import { Runner, type CaseRecord } from './runner.js';
import { startTargets, type Targets } from './targets.js';

const MIB = 1024 * 1024;
/**
 * After each quiet period every fuzz connection is gone, and with it every socket the server
 * opened for one (the tunnel grace, 0.25 s, and the upstream's keep-alive timeout, 0.5 s, are
 * shorter than a quiet second). One descriptor of slack: the health client's /api request may
 * hold a pool connection at that moment.
 */
const FD_SLACK = 1;
/**
 * RSS does not come back to its start after a quiet second even when nothing leaks: V8 keeps
 * the heap it grew to, and malloc keeps freed arenas (measured: start ~65 MiB, ~140-160 MiB
 * after a busy minute, the same after three). So memory is judged between the two quiet
 * periods, which follow the same load: the second may exceed the first by at most RSS_GROWTH.
 * And whatever is kept after a quiet period stays under RSS_CEILING above the start.
 */
const RSS_GROWTH = 32 * MIB;
const RSS_CEILING = 192 * MIB;

interface ServerSamples {
  readonly start: ProcessSample;
  /** After the first half and its quiet period. */
  readonly middle: ProcessSample;
  readonly end: ProcessSample;
}

function resourceFailures({ start, middle, end }: ServerSamples): string[] {
  const failures: string[] = [];
  const mib = (bytes: number): string => `${(bytes / MIB).toFixed(1)} MiB`;
  for (const [when, sample] of [['half-way', middle], ['at the end', end]] as const) {
    if (sample.fds > start.fds + FD_SLACK) failures.push(`open fds did not come back: ${start.fds} at the start, ${sample.fds} ${when} (bound: start + ${FD_SLACK})`);
    if (sample.rssBytes > start.rssBytes + RSS_CEILING) failures.push(`RSS ${when} ${mib(sample.rssBytes)}, more than ${mib(RSS_CEILING)} above the start (${mib(start.rssBytes)})`);
  }
  if (end.rssBytes > middle.rssBytes + RSS_GROWTH) failures.push(`RSS grew from ${mib(middle.rssBytes)} half-way to ${mib(end.rssBytes)} at the end (bound: + ${mib(RSS_GROWTH)})`);
  return failures;
}

function verdict(targets: Targets, runner: Runner, watch: LogWatch, health: HealthResult, samples: ServerSamples): string[] {
  const failures: string[] = [];
  const exit = targets.server.exited;
  if (exit !== null) failures.push(`the server died (exit code ${String(exit.code)}, signal ${String(exit.signal)})`);
  if (health.failure !== null) failures.push(`the health client failed: ${health.failure}`);
  if (health.wsLatencies.length === 0 || health.httpLatencies.length === 0) failures.push('the health client never got an answer');
  if (watch.internalErrors.count > 0) failures.push(`${watch.internalErrors.count} internal error(s) logged`);
  if (watch.exceptionTexts.size > 0) failures.push(`${[...watch.exceptionTexts.values()].reduce((sum, { count }) => sum + count, 0)} log line(s) carry an exception's text`);
  if (targets.findings.length > 0) failures.push(`${targets.findings.length} oracle finding(s)`);
  if (runner.fuzzerErrors.length > 0) failures.push(`${runner.fuzzerErrors.length} case(s) failed in the fuzzer's own code`);
  if (exit === null) failures.push(...resourceFailures(samples));
  if (runner.finished === 0) failures.push('no case finished');
  return failures;
}

async function replay(targets: Targets, options: FuzzOptions, seed: number): Promise<number> {
  const runner = new Runner(targets, options.classes, 1, seed);
  const watch = new LogWatch(targets.server, () => [...runner.inFlight.values()]);
  const lines: string[] = [];
  targets.server.onLine((line) => lines.push(line));
  const { record, outcome } = await runner.runOne(seed);
  await delay(300);
  console.log(`case FUZZ_CASE=${seed}: ${record.kind} → ${record.target}\ninput: ${record.input}\nanswer: ${outcome.answer}`);
  if (outcome.extras !== undefined) console.log(`also seen: ${JSON.stringify(outcome.extras)}`);
  console.log(`server log during the case:\n${lines.join('\n')}`);
  for (const { error } of runner.fuzzerErrors) console.log(`fuzzer error: ${error}`);
  for (const finding of targets.findings) console.log(`oracle finding: ${finding}`);
  return watch.internalErrors.count > 0 || targets.findings.length > 0 || targets.server.exited !== null ? 1 : 0;
}

async function main(): Promise<number> {
  const options = fuzzOptions();
  if (options.replayCase === null) {
    console.log(`websocksy fuzz: FUZZ_SEED=${options.seed} FUZZ_SECONDS=${options.seconds} FUZZ_CONCURRENCY=${options.concurrency} classes=${options.classes.join(',')}`);
  } else console.log(`websocksy fuzz: FUZZ_CASE=${options.replayCase} alone (classes=${options.classes.join(',')}, as in the run it came from)`);
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

  const runner = new Runner(targets, options.classes, options.concurrency, options.seed);
  const watch = new LogWatch(targets.server, () => [...runner.inFlight.values()]);
  const findings = new Sightings();
  targets.onFinding((line) => findings.add(line, () => [...runner.inFlight.values()]));
  let inFlightAtDeath: CaseRecord[] = [];
  targets.server.onExit(() => {
    inFlightAtDeath = [...runner.inFlight.values()];
    runner.stop();
  });
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

  // Two halves, each followed by a quiet period: memory the server merely keeps (V8's heap,
  // malloc's arenas) is there after both, while a leak grows from the first to the second.
  let ranMs = 0;
  const half = async (): Promise<ProcessSample> => {
    const from = Date.now();
    await runner.run(from + (options.seconds * 1000) / 2);
    ranMs += Date.now() - from;
    await delay(options.quietSeconds * 1000);
    return sampler.sample();
  };
  const middle = await half();
  const end = await half();
  sampler.stop();
  loop.disable();
  const health = await healthThread.stop();

  const failures = verdict(targets, runner, watch, health, { start, middle, end });
  const death = targets.server.exited === null ? null : { inFlight: inFlightAtDeath, tail: targets.server.tail };
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
    server: { start, peak: sampler.peak, middle, end, quietSeconds: options.quietSeconds },
    death,
    findings,
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
