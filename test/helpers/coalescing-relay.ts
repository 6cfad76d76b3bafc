/*
 * A TCP relay that holds what arrives in each direction for a few milliseconds and passes it on
 * in one write, as a busy host or a proxy on the path would: a client library's last message
 * and its close frame, written separately, then reach the server in one read.
 */
import { once } from 'node:events';
import { connect, createServer, type Server, type Socket } from 'node:net';

function relayDirection(from: Socket, to: Socket, holdMs: number): void {
  let held: Buffer[] = [];
  let timer: NodeJS.Timeout | null = null;
  const pass = (): void => {
    timer = null;
    if (held.length > 0 && !to.destroyed) to.write(Buffer.concat(held));
    held = [];
  };
  from.on('data', (chunk: Buffer) => {
    held.push(chunk);
    timer ??= setTimeout(pass, holdMs);
  });
  from.once('end', () => {
    if (timer !== null) clearTimeout(timer);
    pass();
    to.end();
  });
  from.once('error', () => to.destroy());
  from.once('close', () => {
    if (timer !== null) clearTimeout(timer);
  });
}

export interface CoalescingRelay {
  readonly port: number;
  close(): Promise<void>;
}

export async function coalescingRelay(targetPort: number, holdMs = 20): Promise<CoalescingRelay> {
  const sockets = new Set<Socket>();
  const server: Server = createServer({ allowHalfOpen: true }, (inbound) => {
    const outbound = connect({ host: '127.0.0.1', port: targetPort, allowHalfOpen: true });
    for (const socket of [inbound, outbound]) {
      sockets.add(socket);
      socket.once('close', () => sockets.delete(socket));
    }
    relayDirection(inbound, outbound, holdMs);
    relayDirection(outbound, inbound, holdMs);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return {
    port: (server.address() as { port: number }).port,
    close: async () => {
      for (const socket of sockets) socket.destroy();
      server.close();
      await once(server, 'close');
    },
  };
}
