/*
 * Processes under measurement: start one in its own process group, wait for the line that says
 * where it listens, and read the CPU time and memory of its whole group from /proc.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { closeSync, openSync, readdirSync, readFileSync } from 'node:fs';

const CLOCK_TICKS = 100;

/** Output kept from a started process once it is ready. */
const KEPT_OUTPUT = 64 * 1024;

export interface Started {
  readonly child: ChildProcess;
  /** The first match of `ready` in the output. */
  readonly match: RegExpExecArray;
  output(): string;
  stop(): Promise<void>;
}

/**
 * Spawns `command` in its own process group and resolves once its output matches `ready`.
 * `logFile`: its output goes to that file instead of a pipe this process reads, so that a
 * subject logging a line per connection does not have the harness spend a core's share on
 * reading them, beside it, during the measurement.
 */
export async function startProcess(command: string, args: readonly string[], ready: RegExp, cwd: string, timeoutMs = 15_000, env: NodeJS.ProcessEnv = process.env, logFile?: string): Promise<Started> {
  const fd = logFile === undefined ? null : openSync(logFile, 'w');
  const child = spawn(command, args, {
    cwd,
    env,
    detached: true,
    stdio: fd === null ? ['pipe', 'pipe', 'pipe'] : ['pipe', fd, fd],
  });
  if (fd !== null) closeSync(fd);
  let output = '';
  const match = await new Promise<RegExpExecArray>((resolve, reject) => {
    let isReady = false;
    const timer = setTimeout(() => reject(new Error(`${command} not ready in time; output:\n${output}`)), timeoutMs);
    const found = (): void => {
      const match = ready.exec(output);
      if (match === null) return;
      isReady = true;
      clearTimeout(timer);
      clearInterval(poll);
      resolve(match);
    };
    const poll =
      logFile === undefined
        ? undefined
        : setInterval(() => {
            output = readFileSync(logFile, 'utf8');
            found();
          }, 50);
    const collect = (chunk: Buffer): void => {
      // Once ready, only the head is kept (start-up lines, what output() is asked for) and the
      // pipe is just drained: a subject logging a line per connection must not have the harness
      // search an ever longer text, on the same two cores, while it is measured.
      if (isReady && output.length >= KEPT_OUTPUT) return;
      output += chunk.toString();
      if (!isReady) found();
    };
    child.stdout?.on('data', collect);
    child.stderr?.on('data', collect);
    child.once('exit', (code) => {
      clearTimeout(timer);
      clearInterval(poll);
      if (logFile !== undefined) output = readFileSync(logFile, 'utf8');
      reject(new Error(`${command} exited with ${String(code)}; output:\n${output}`));
    });
  });
  return {
    child,
    match,
    output: () => (logFile === undefined ? output : readFileSync(logFile, 'utf8')),
    stop: async () => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = once(child, 'exit');
      process.kill(-(child.pid as number), 'SIGTERM');
      const timer = setTimeout(() => process.kill(-(child.pid as number), 'SIGKILL'), 5000);
      await exited;
      clearTimeout(timer);
    },
  };
}

interface ProcStat {
  readonly ppid: number;
  readonly pgrp: number;
  readonly cpuTicks: number;
  readonly childTicks: number;
  readonly rssPages: number;
}

function readStat(pid: string): ProcStat | null {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return null; // the process ended between readdir and read
  }
  // Fields after the command name, which may itself contain spaces and parentheses.
  const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
  const field = (n: number): number => Number(fields[n - 3]);
  return { ppid: field(4), pgrp: field(5), cpuTicks: field(14) + field(15), childTicks: field(16) + field(17), rssPages: field(24) };
}

export interface GroupUsage {
  /** User + system CPU seconds of every live process in the group, plus reaped children. */
  readonly cpuSeconds: number;
  /** Resident memory of every process in the group, in bytes. */
  readonly rssBytes: number;
}

/** CPU and memory of process group `pgid` (a process started by startProcess is its own group). */
export function groupUsage(pgid: number): GroupUsage {
  let ticks = 0;
  let pages = 0;
  for (const pid of readdirSync('/proc')) {
    if (!/^\d+$/.test(pid)) continue;
    const stat = readStat(pid);
    if (stat === null || stat.pgrp !== pgid) continue;
    ticks += stat.cpuTicks + (Number(pid) === pgid ? stat.childTicks : 0);
    pages += stat.rssPages;
  }
  return { cpuSeconds: ticks / CLOCK_TICKS, rssBytes: pages * 4096 };
}

/**
 * CPU and memory of process `root` and every live descendant, whatever their process groups (a
 * cluster's primary starts each worker in a group of its own), plus what the root reaped.
 */
export function treeUsage(root: number): GroupUsage {
  const stats = new Map<number, ProcStat>();
  for (const pid of readdirSync('/proc')) {
    if (!/^\d+$/.test(pid)) continue;
    const stat = readStat(pid);
    if (stat !== null) stats.set(Number(pid), stat);
  }
  let ticks = 0;
  let pages = 0;
  const inTree = (pid: number): boolean => {
    for (let at = pid, depth = 0; at > 1 && depth < 64; depth++) {
      if (at === root) return true;
      at = stats.get(at)?.ppid ?? 0;
    }
    return false;
  };
  for (const [pid, stat] of stats) {
    if (!inTree(pid)) continue;
    ticks += stat.cpuTicks + (pid === root ? stat.childTicks : 0);
    pages += stat.rssPages;
  }
  return { cpuSeconds: ticks / CLOCK_TICKS, rssBytes: pages * 4096 };
}

/** CPU seconds of the children this process has reaped (a load generator, once it exited). */
export function reapedChildrenSeconds(): number {
  return (readStat('self')?.childTicks ?? 0) / CLOCK_TICKS;
}

/**
 * CPU seconds the whole machine spent busy since boot: every CPU's user, nice, system, irq and
 * softirq time. Not idle or I/O wait, and not steal, which is the hypervisor running someone
 * else's work. A process's own figure leaves out part of what its traffic costs: softirq work (loopback
 * delivery, wake-ups) is charged to whichever task the CPU happens to be running, so the same
 * bridge can show very different per-process CPU when launched differently; the machine-wide
 * figure, over a run where the subject, its load generator and echo peer are all that run, does not.
 */
export function machineBusySeconds(): number {
  const cpu = readFileSync('/proc/stat', 'utf8').split('\n', 1)[0] as string;
  const [user, nice, system, , , irq, softirq] = cpu.trim().split(/\s+/).slice(1).map(Number) as number[];
  return ((user ?? 0) + (nice ?? 0) + (system ?? 0) + (irq ?? 0) + (softirq ?? 0)) / CLOCK_TICKS;
}
