// Preloaded into every test file's process (`node --test --import`, Makefile TEST_FLAGS): a file
// whose process is still running 10 s after its last test and hook names what it left open,
// kills the programs it started, and exits.
//
// Why: node --test on Node 22 and 24 waits for a file's process to exit on its own after its last
// test, with no bound (--test-timeout holds each test, not the file, there). One file that left a
// server, a timer or a child process behind held a CI row for its whole 30 minutes with nothing in
// the log to say which. --test-force-exit is no answer: on Node 24 it ended files whose
// synchronous tests were still to run (40 tests went missing from a passing run).
import { readdirSync, readFileSync } from 'node:fs';
import { after } from 'node:test';

/** Long enough for what the last after() hook closed to finish closing. */
const GRACE_MS = 10_000;

type Child = { pid: number; command: string };

function childrenOf(parent: number): Child[] {
  const children: Child[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      // The command name is in parentheses and may hold spaces; after it come the state and the parent's pid.
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      // A zombie has ended already (killed, not yet waited for).
      if (Number(fields[1]) !== parent || fields[0] === 'Z') continue;
      const command = readFileSync(`/proc/${entry}/cmdline`, 'utf8').split('\0').filter(Boolean).join(' ');
      children.push({ pid: Number(entry), command });
    } catch {
      // The process ended between the listing and the read: nothing of it is left to report.
    }
  }
  return children;
}

function reportAndEnd(): void {
  const file = process.argv[1] ?? 'a test file';
  const lines = [`test harness: ${file} still runs ${GRACE_MS / 1000} s after its last test; open: ${process.getActiveResourcesInfo().join(', ')}`];
  for (const child of childrenOf(process.pid)) {
    lines.push(`test harness: killing child ${child.pid} it left running: ${child.command}`);
    try {
      process.kill(child.pid, 'SIGKILL');
    } catch (error) {
      lines.push(`test harness: could not kill ${child.pid}: ${(error as Error).message}`);
    }
  }
  process.stderr.write(`${lines.join('\n')}\n`);
  // Every outcome was reported already; what held the process was the file's leftovers.
  process.exit(0);
}

// Only in a test file's own process (the runner's children carry NODE_TEST_CONTEXT), never in the runner.
if (process.env['NODE_TEST_CONTEXT'] !== undefined) {
  after(() => {
    setTimeout(reportAndEnd, GRACE_MS).unref();
  });
}
