/*
 * `make fuzz`: starts the targets and one websocksy, keeps a neighbour client echoing, runs
 * seeded cases of every class against all four targets for FUZZ_SECONDS in two halves, each
 * followed by a quiet period, and reports; exits 1 when the verdict (verdict.ts) fails.
 * FUZZ_CASE=<seed> runs one case alone and shows its input and answer.
 */
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { tempDir } from '../test/helpers/peers.js';
import { HealthThread } from './health-thread.js';
import { LogWatch, Sightings } from './log-watch.js';
import { LiveSessions, SESSION_SETTLE_MS } from './session-watch.js';
import { fuzzOptions, OptionError, type FuzzOptions } from './options.js';
import { isClosedConnection, newFiles, openFiles } from './open-files.js';
import { PeakSampler, sampleProcess } from './process-stats.js';
import { delay } from './raw-connection.js';
import { formatReport } from './report.js';
import { Runner, type CaseRecord } from './runner.js';
import { startTargets, type Targets } from './targets.js';
import { verdict, type SettledSample } from './verdict.js';

/**
 * How long a replayed case's connections get to close before the server's descriptors are
 * compared with those before it: past the tunnel grace (0.25 s) and a peer's orderly end. A
 * session's peer may still linger then (its grace and the peer's 5 s): those are shown, and
 * only a closed connection's descriptor fails the replay.
 */
const REPLAY_SETTLE_MS = 1500;

async function replay(targets: Targets, options: FuzzOptions, seed: number): Promise<number> {
  const runner = new Runner(targets, options.classes, 1, seed);
  const watch = new LogWatch(targets.server, () => [...runner.inFlight.values()]);
  const lines: string[] = [];
  targets.server.onLine((line) => lines.push(line));
  const before = openFiles(targets.server.pid);
  const { record, outcome } = await runner.runOne(seed);
  await delay(REPLAY_SETTLE_MS);
  const left = targets.server.exited === null ? newFiles(before, openFiles(targets.server.pid)) : [];
  console.log(`case FUZZ_CASE=${seed}: ${record.kind} → ${record.target}\ninput: ${record.input}\nanswer: ${outcome.answer}`);
  if (outcome.extras !== undefined) console.log(`also seen: ${JSON.stringify(outcome.extras)}`);
  console.log(`server log during the case:\n${lines.join('\n')}`);
  for (const { error } of runner.fuzzerErrors) console.log(`fuzzer error: ${error}`);
  for (const finding of targets.findings) console.log(`oracle finding: ${finding}`);
  if (left.length > 0) console.log(`descriptors open ${REPLAY_SETTLE_MS} ms after the case ended that were not before it:\n  ${left.join('\n  ')}`);
  const leaked = left.some(isClosedConnection);
  return watch.internalErrors.count > 0 || targets.findings.length > 0 || targets.server.exited !== null || leaked ? 1 : 0;
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
  const sessions = new LiveSessions(targets.server);
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
  // Settled like the samples after each half, so that all three compare like with like.
  const startHeap = await targets.server.collectGarbage();
  const start: SettledSample = { ...sampleProcess(targets.server.pid), heap: startHeap };
  const startFiles = openFiles(targets.server.pid);
  const sampler = new PeakSampler(targets.server.pid);
  const loop = monitorEventLoopDelay({ resolution: 10 });
  loop.enable();

  // Two halves, each followed by a quiet period: memory the server merely keeps (V8's heap,
  // malloc's arenas) is there after both, while a leak grows from the first to the second.
  // The quiet period first waits for the sessions the cases left to end (session-watch.ts).
  let ranMs = 0;
  const newDescriptors: string[][] = [];
  const sessionsLeft: string[][] = [];
  const half = async (): Promise<SettledSample> => {
    const from = Date.now();
    await runner.run(from + (options.seconds * 1000) / 2);
    ranMs += Date.now() - from;
    sessionsLeft.push(await sessions.settled(SESSION_SETTLE_MS));
    await delay(options.quietSeconds * 1000);
    // Garbage a collection would free is no leak, and whether V8 has run one by now is chance:
    // both samples are read with the heap collected, so they compare like with like.
    const heap = await targets.server.collectGarbage();
    const sample = { ...sampler.sample(), heap };
    // All named only when there are more than at the start (fd numbers are reused, so a list of
    // what changed would be noise); a closed connection's descriptor always (verdict.ts).
    const added = targets.server.exited === null ? newFiles(startFiles, openFiles(targets.server.pid)) : [];
    newDescriptors.push(sample.fds > start.fds ? added : added.filter(isClosedConnection));
    return sample;
  };
  const middle = await half();
  const end = await half();
  sampler.stop();
  loop.disable();
  const health = await healthThread.stop();

  const failures = verdict(targets, runner, watch, health, { start, middle, end }, sessionsLeft, newDescriptors);
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
    server: { start, peak: sampler.peak, middle, end, quietSeconds: options.quietSeconds, newDescriptors },
    sessions: { peak: sessions.peak, left: sessionsLeft },
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
