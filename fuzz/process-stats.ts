/*
 * The server's resident memory and open file descriptors, read from /proc/PID/status and
 * /proc/PID/fd: at the start, at their peak (sampled every 200 ms) and at the end.
 */
import { openDescriptors, rssBytes } from '../test/helpers/process-figures.js';

export interface ProcessSample {
  readonly rssBytes: number;
  readonly fds: number;
}

export function sampleProcess(pid: number): ProcessSample {
  return { rssBytes: rssBytes(pid), fds: openDescriptors(pid) };
}

export class PeakSampler {
  peak: ProcessSample;
  private readonly timer: NodeJS.Timeout;

  constructor(private readonly pid: number) {
    this.peak = sampleProcess(pid);
    this.timer = setInterval(() => this.sample(), 200);
  }

  sample(): ProcessSample {
    try {
      const now = sampleProcess(this.pid);
      this.peak = { rssBytes: Math.max(this.peak.rssBytes, now.rssBytes), fds: Math.max(this.peak.fds, now.fds) };
      return now;
    } catch {
      // The process is gone: the run reports the death, not a missing /proc entry.
      clearInterval(this.timer);
      return this.peak;
    }
  }

  stop(): void {
    clearInterval(this.timer);
  }
}
