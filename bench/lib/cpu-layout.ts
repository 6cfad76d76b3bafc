/*
 * Where the processes of a side-by-side run execute. On a small machine the scheduler moves the
 * proxy under test, the load generator and the upstream between CPUs as it likes, and a VM's
 * CPUs do not run at the same speed at the same moment: on this 2-vCPU machine one vCPU served
 * websocksy's 1 KiB route at 78–84 µs per request while the other served it at 43–45 in the
 * same minutes (nginx: 38–47 against 31–45). So the subject gets one CPU to itself, the load
 * generator and the upstream the others, all subjects of a round use the same CPU, and the
 * rounds move between two CPUs every two rounds: the workloads reverse their subjects' order
 * every round, so each subject goes first once on each CPU, and neither always gets the slower.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';

const TASKSET = '/usr/bin/taskset';

export interface CpuLayout {
  /** The CPU the subjects of round `round` (from 1) run on: two rounds on one, two on the other. */
  subjectCpu(round: number): number;
  /** Every other CPU this process may use, as taskset's list: the load generator's and the upstream's. */
  othersThan(cpu: number): string;
  /** Every CPU this process may use, as taskset's list. */
  readonly all: string;
}

/** The CPUs this process may run on, from /proc/self/status's `Cpus_allowed_list` ("0-3,6"). */
function allowedCpus(): number[] {
  const line = /^Cpus_allowed_list:\s*(\S+)$/m.exec(readFileSync('/proc/self/status', 'utf8'));
  if (line === null) return [];
  const cpus: number[] = [];
  for (const part of (line[1] as string).split(',')) {
    const [from, to] = part.split('-').map(Number) as [number, number | undefined];
    for (let cpu = from; cpu <= (to ?? from); cpu++) cpus.push(cpu);
  }
  return cpus;
}

/** The layout, or null with the reason said on stderr (`BENCH_PIN=0`, one CPU, no taskset): the workload then runs unpinned. */
export function cpuLayout(workload: string): CpuLayout | null {
  const layout = findLayout();
  if (typeof layout !== 'string') return layout;
  process.stderr.write(`bench: ${workload} runs unpinned: ${layout}\n`);
  return null;
}

function findLayout(): CpuLayout | string {
  if (process.env['BENCH_PIN'] === '0') return 'BENCH_PIN=0';
  if (spawnSync(TASKSET, ['-V']).error !== undefined) return `taskset is not installed (${TASKSET}, util-linux)`;
  const cpus = allowedCpus();
  if (cpus.length < 2) return `only ${cpus.length} CPU to run on`;
  const [first, second] = cpus as [number, number];
  return {
    subjectCpu: (round) => (Math.floor((round - 1) / 2) % 2 === 0 ? first : second),
    othersThan: (cpu) => cpus.filter((other) => other !== cpu).join(','),
    all: cpus.join(','),
  };
}

/**
 * Puts the processes `subjects` on round `round`'s CPU and `load` (the upstream, the echo peer)
 * on the others; returns the others, for the load generator, or null when unpinned.
 */
export function placeRound(layout: CpuLayout | null, round: number, subjects: readonly number[], load: readonly number[]): string | null {
  if (layout === null) return null;
  const cpu = layout.subjectCpu(round);
  const others = layout.othersThan(cpu);
  for (const pid of subjects) pinProcess(pid, String(cpu));
  for (const pid of load) pinProcess(pid, others);
  return others;
}

/** Lets processes that outlive the workload (the echo peer) run anywhere again. */
export function unpin(layout: CpuLayout | null, pids: readonly number[]): void {
  if (layout === null) return;
  for (const pid of pids) pinProcess(pid, layout.all);
}

/** Moves every thread of process `pid` onto `cpus` (taskset's list syntax). */
function pinProcess(pid: number, cpus: string): void {
  const result = spawnSync(TASKSET, ['--all-tasks', '--pid', '--cpu-list', cpus, String(pid)], { encoding: 'utf8' });
  if (result.status !== 0) throw new Error(`taskset could not move process ${pid} to CPUs ${cpus}: ${result.stderr || String(result.error)}`);
}

/** `command args` as run on `cpus` only, or as they are when `cpus` is null (unpinned). */
export function commandOn(cpus: string | null, command: string, args: readonly string[]): [string, string[]] {
  return cpus === null ? [command, [...args]] : [TASKSET, ['--cpu-list', cpus, command, ...args]];
}
