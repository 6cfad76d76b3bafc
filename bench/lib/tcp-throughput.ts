/*
 * TCP echo throughput for the tunnel and relay workloads: bench/bin/tcpload (C, epoll, every
 * echoed byte checked against what was sent) with `conns` connections to a port, each writing
 * `size`-byte chunks with at most `window` chunks unanswered, for `seconds`. The bridge's load
 * is loadgen, the same kind of driver; until 2026-12-06 these paths were driven from the
 * harness's own Node process, which checked nothing and spent 0.6 CPU s/GB beside the relays it
 * measured (bench/README.md, "TCP paths driven from C").
 */
import { fileURLToPath } from 'node:url';
import { runLoadgen } from './loadgen.js';

const TCPLOAD = fileURLToPath(new URL('../../../bench/bin/tcpload', import.meta.url));

export interface TcpThroughput {
  /** Bytes echoed back, both directions counted once (as loadgen counts a message once). */
  readonly bytes: number;
  readonly seconds: number;
}

export async function tcpThroughput(port: number, conns: number, size: number, window: number, seconds: number): Promise<TcpThroughput> {
  const args = ['--port', String(port), '--conns', String(conns), '--size', String(size), '--window', String(window), '--seconds', String(seconds)];
  const result = await runLoadgen(TCPLOAD, args, (seconds + 60) * 1000);
  return { bytes: Number(result['bytes']), seconds: Number(result['seconds']) };
}
