/*
 * A TCP relay in front of websocksy that drops its clients on command (TESTING.md, "Cutting
 * connections on purpose"): cut() ends every connection through it with RST or FIN; down()
 * also turns new connections away until up(); blockWebSocket makes it refuse upgrades (a proxy
 * that lets only plain HTTP through); cutServerSide() drops the server's half and keeps the
 * client's open and silent, so that only the server notices; stall() stops forwarding and keeps
 * both sides open (a half-open path that only heartbeats notice), destroying them a few seconds
 * later.
 */
import { once } from 'node:events';
import { createServer, connect, type AddressInfo, type Server, type Socket } from 'node:net';

export type CutKind = 'rst' | 'fin';

interface Pair {
  readonly client: Socket;
  readonly server: Socket;
}

const UPGRADE = /\r\nupgrade:[ \t]*websocket/i;

function end(socket: Socket, kind: CutKind): void {
  if (socket.destroyed) return;
  if (kind === 'rst') socket.resetAndDestroy();
  else {
    socket.end();
    // A peer that ignores the FIN must not keep the socket: the cut is the point.
    setTimeout(() => socket.destroy(), 1000).unref();
  }
}

export class CuttingRelay {
  private server: Server | null = null;
  private readonly pairs = new Set<Pair>();
  private refusing = false;
  /** Refuse connections whose first request asks for a WebSocket upgrade. */
  blockWebSocket = false;
  /** Bytes forwarded, both directions. */
  forwarded = 0;
  /** Connections cut so far (each cut() counts once). */
  cuts = 0;
  port = 0;
  /** Called after each forwarded chunk: where a test decides to cut. */
  onForward: (() => void) | null = null;

  constructor(private readonly targetPort: number) {}

  async start(): Promise<void> {
    const server = createServer((client) => this.accept(client));
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    this.server = server;
    this.port = (server.address() as AddressInfo).port;
  }

  get connections(): number {
    return this.pairs.size;
  }

  cut(kind: CutKind): void {
    this.cuts += 1;
    for (const pair of this.pairs) {
      end(pair.client, kind);
      end(pair.server, kind);
    }
    this.pairs.clear();
  }

  stall(): void {
    for (const pair of this.pairs) {
      for (const socket of [pair.client, pair.server]) {
        socket.removeAllListeners('data');
        socket.pause();
        setTimeout(() => socket.destroy(), 3000).unref();
      }
    }
    this.pairs.clear();
  }

  /** Cuts everything (RST) and turns new connections away. */
  down(): void {
    this.refusing = true;
    this.cut('rst');
  }

  up(): void {
    this.refusing = false;
  }

  /** The server sees its connections reset; the clients see nothing at all (until cut()). */
  cutServerSide(): void {
    for (const pair of this.pairs) {
      pair.client.pause();
      pair.client.removeAllListeners('data');
      pair.server.removeAllListeners('close');
      pair.server.removeAllListeners('error');
      pair.server.on('error', () => undefined);
      pair.server.resetAndDestroy();
    }
  }

  async close(): Promise<void> {
    this.cut('rst');
    if (this.server === null) return;
    this.server.close();
    await once(this.server, 'close');
  }

  private accept(client: Socket): void {
    if (this.refusing) {
      client.resetAndDestroy();
      return;
    }
    const server = connect({ host: '127.0.0.1', port: this.targetPort });
    const pair: Pair = { client, server };
    this.pairs.add(pair);
    let first = true;
    const forward = (from: Socket, to: Socket, inspect: boolean): void => {
      from.on('data', (chunk: Buffer) => {
        if (inspect && first) {
          first = false;
          if (this.blockWebSocket && UPGRADE.test(chunk.toString('latin1'))) {
            this.pairs.delete(pair);
            client.resetAndDestroy();
            server.destroy();
            return;
          }
        }
        this.forwarded += chunk.length;
        if (!to.write(chunk)) {
          from.pause();
          to.once('drain', () => from.resume());
        }
        this.onForward?.();
      });
      from.on('error', () => to.destroy());
      from.on('close', () => {
        to.destroy();
        this.pairs.delete(pair);
      });
    };
    forward(client, server, true);
    forward(server, client, false);
  }
}
