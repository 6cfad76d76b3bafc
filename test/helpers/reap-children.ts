// Preloaded into every test file's process (`node --test --import`, Makefile TEST_FLAGS). When a
// file's process exits, it kills the programs the file started and left running, and names them.
//
// Why: node --test on Node 22 and 24 waits for a file's process to exit on its own after its last
// test, with no bound (--test-timeout holds each test, not the file). One file that left a server,
// a timer or a child process behind once held a CI row for its whole 30 minutes with nothing in
// the log to say which. --test-force-exit now ends the file's process when its last test has an
// outcome; its children (websocksy, nginx, mosquitto…) would outlive it, so they go here, by name.
// (The handles still open at that moment are no guide: a child killed and a server closed in the
// last after() hook are still there, waiting for their callbacks.)
import { readdirSync, readFileSync } from 'node:fs';

type Child = { pid: number; command: string };

function childrenOf(parent: number): Child[] {
  const children: Child[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      // The command name is in parentheses and may hold spaces; after it come the state and the parent's pid.
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      // A zombie has ended already (killed in an after() hook, not yet waited for).
      if (Number(fields[1]) !== parent || fields[0] === 'Z') continue;
      const command = readFileSync(`/proc/${entry}/cmdline`, 'utf8').split('\0').filter(Boolean).join(' ');
      children.push({ pid: Number(entry), command });
    } catch {
      // The process ended between the listing and the read: nothing of it is left to report.
    }
  }
  return children;
}

function reportAndReap(): void {
  const children = childrenOf(process.pid);
  if (children.length === 0) return;
  const lines: string[] = [];
  for (const child of children) {
    lines.push(`test harness: ${process.argv[1] ?? 'a test file'} left child ${child.pid} running (killed): ${child.command}`);
    try {
      process.kill(child.pid, 'SIGKILL');
    } catch (error) {
      lines.push(`test harness: could not kill ${child.pid}: ${(error as Error).message}`);
    }
  }
  process.stderr.write(`${lines.join('\n')}\n`);
}

// Only in a test file's own process: the runner itself ends with its children, the files, running.
if (process.env['NODE_TEST_CONTEXT'] !== undefined) process.on('exit', reportAndReap);
