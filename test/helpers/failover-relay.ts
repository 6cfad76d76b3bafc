/*
 * The simplest load balancer in front of several instances: each TCP connection goes to the
 * first target, in order, that accepts it. With A then B, connections reach A until its listen
 * socket closes (a drain), then B: what a balancer with health checks does, without the timing
 * of its checks. Counts the connections each target got. hold() makes the way back slow: what
 * the targets send waits, in order, until release().
 */
import { once } from 'node:events';
import { connect, createServer, type AddressInfo, type Server, type Socket } from 'node:net';

export class FailoverRelay {
  /** Connections each target (by index) took. */
  readonly reached: number[];
  private readonly sockets = new Set<Socket>();
  /** Each connection's target side and its client, for hold() and release(). */
  private readonly pairs = new Map<Socket, Socket>();
  private holding = false;

  private constructor(
    private readonly server: Server,
    private readonly targets: readonly number[],
  ) {
    this.reached = targets.map(() => 0);
  }

  static async start(targets: readonly number[]): Promise<FailoverRelay> {
    let relay: FailoverRelay | null = null;
    const server = createServer({ pauseOnConnect: true }, (client) => relay?.accept(client));
    relay = new FailoverRelay(server, targets);
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    return relay;
  }

  get port(): number {
    return (this.server.address() as AddressInfo).port;
  }

  private track(socket: Socket): void {
    this.sockets.add(socket);
    socket.on('close', () => this.sockets.delete(socket));
  }

  private accept(client: Socket): void {
    this.track(client);
    client.on('error', () => client.destroy());
    this.dial(client, 0);
  }

  private dial(client: Socket, index: number): void {
    const port = this.targets[index];
    if (port === undefined || client.destroyed) {
      client.destroy();
      return;
    }
    const server = connect({ host: '127.0.0.1', port });
    this.track(server);
    server.once('error', () => {
      server.destroy();
      this.dial(client, index + 1);
    });
    server.once('connect', () => {
      this.reached[index] = (this.reached[index] ?? 0) + 1;
      server.removeAllListeners('error');
      server.on('error', () => client.destroy());
      client.on('close', () => server.destroy());
      // An orderly end travels through the pipe (after what came before it); only an abrupt one destroys.
      server.on('close', () => {
        this.pairs.delete(server);
        if (!client.writableEnded) client.destroy();
      });
      this.pairs.set(server, client);
      client.pipe(server);
      if (!this.holding) server.pipe(client);
      client.resume();
    });
  }

  /** From now on, what the targets send waits (in their sockets, in order) until release(). */
  hold(): void {
    this.holding = true;
    for (const [server, client] of this.pairs) {
      server.unpipe(client);
      server.pause();
    }
  }

  release(): void {
    this.holding = false;
    for (const [server, client] of this.pairs) server.pipe(client);
  }

  async close(): Promise<void> {
    for (const socket of this.sockets) socket.destroy();
    this.server.close();
    await once(this.server, 'close');
  }
}
