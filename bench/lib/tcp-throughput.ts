/*
 * TCP echo throughput for the tunnel workload: `conns` connections to a port, each writing
 * `size`-byte chunks with at most `window` chunks unanswered (the echo's reply is the credit),
 * for `seconds`. Runs in the harness process; it is light next to the two tunnel processes.
 */
import { connect, type Socket } from 'node:net';
import { once } from 'node:events';

export interface TcpThroughput {
  /** Bytes echoed back, both directions counted once (as loadgen counts a message once). */
  readonly bytes: number;
  readonly seconds: number;
}

export async function tcpThroughput(port: number, conns: number, size: number, window: number, seconds: number): Promise<TcpThroughput> {
  const chunk = Buffer.alloc(size, 0x5a);
  let bytes = 0;
  let running = true;
  const sockets: Socket[] = [];
  for (let i = 0; i < conns; i++) {
    const socket = connect({ host: '127.0.0.1', port });
    socket.setNoDelay(true);
    await once(socket, 'connect');
    sockets.push(socket);
  }
  const started = process.hrtime.bigint();
  for (const socket of sockets) {
    let outstanding = 0;
    const fill = (): void => {
      while (running && outstanding < window * size) {
        outstanding += size;
        socket.write(chunk);
      }
    };
    socket.on('data', (data: Buffer) => {
      bytes += data.length;
      outstanding -= data.length;
      fill();
    });
    socket.on('error', (error: Error) => process.stderr.write(`bench: tcp throughput socket: ${error.message}\n`));
    fill();
  }
  await new Promise((resolve) => setTimeout(resolve, seconds * 1000));
  running = false;
  const elapsed = Number(process.hrtime.bigint() - started) / 1e9;
  for (const socket of sockets) socket.destroy();
  return { bytes, seconds: elapsed };
}
