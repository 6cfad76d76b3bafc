/*
 * A tunnel client's local forwards (-L): it listens on each forward's bind:port for as long as
 * it runs, and hands every connection to the current session as a stream to host:port on the
 * far side. Connections that arrive before the first session exists wait for it, at most
 * MAX_STREAMS_PER_SESSION of them (a session could not take more at once): past that they are
 * closed and logged. Each listener callback runs behind the guard, owned by its connection.
 */
import { once } from 'node:events';
import { createServer, type Server, type Socket } from 'node:net';
import { errorCode } from '../lib/errors.js';
import { processOwner, runGuarded, type Guarded } from '../lib/guard.js';
import { log, type LogFields } from '../lib/log.js';
import { describeForward, type Forward } from './forward.js';
import { MAX_STREAMS_PER_SESSION, type Session } from './mux.js';

/** The client the forwards belong to. */
export interface ForwardsOwner {
  readonly logFields: LogFields;
  /** The session to open streams in, or null before the first welcome. */
  readonly currentSession: Session | null;
}

const listenerOwner = processOwner('local forward');

interface Waiting {
  readonly socket: Socket;
  readonly forward: Forward;
  readonly gone: () => void;
}

export class LocalForwards {
  private readonly servers: Server[] = [];
  private readonly waiting = new Set<Waiting>();
  /** Bound ports, in the order of the local forwards (port 0 becomes the real one). */
  readonly ports: number[] = [];

  constructor(
    private readonly forwards: readonly Forward[],
    private readonly owner: ForwardsOwner,
  ) {}

  /** Binds every local forward; a failure names the forward (a start-up error). */
  async listen(): Promise<void> {
    for (const forward of this.forwards) {
      if (forward.kind !== 'local') continue;
      const server = createServer({ allowHalfOpen: true, pauseOnConnect: true }, (socket) => this.onConnection(socket, forward));
      server.listen({ host: forward.bind, port: forward.port });
      try {
        await Promise.race([once(server, 'listening'), once(server, 'error').then(([error]) => Promise.reject(error as Error))]);
      } catch (error) {
        throw new Error(`${describeForward(forward)}: cannot listen on ${forward.bind}:${forward.port}: ${errorCode(error)}`);
      }
      const fields = { ...this.owner.logFields, forward: describeForward(forward) };
      server.on('error', (error: NodeJS.ErrnoException) => runGuarded(listenerOwner, 'local listener error', () => log.error('local listener failed', { ...fields, error: errorCode(error) })));
      const port = (server.address() as { port: number }).port;
      this.ports.push(port);
      this.servers.push(server);
      log.info('forward', { ...this.owner.logFields, forward: describeForward({ ...forward, port }) });
    }
  }

  private onConnection(socket: Socket, forward: Forward): void {
    const connection: Guarded = {
      logFields: { ...this.owner.logFields, forward: describeForward({ ...forward, port: socket.localPort ?? forward.port }) },
      abortAfterFault: () => socket.destroy(),
    };
    runGuarded(connection, 'local connection', () => {
      socket.setNoDelay(true);
      const session = this.owner.currentSession;
      if (session !== null) this.open(session, socket, forward);
      else this.wait(socket, forward, connection.logFields);
    });
  }

  private wait(socket: Socket, forward: Forward, fields: LogFields): void {
    if (this.waiting.size >= MAX_STREAMS_PER_SESSION) {
      log.warn('connection refused: too many waiting for the tunnel', { ...fields, limit: MAX_STREAMS_PER_SESSION });
      socket.destroy();
      return;
    }
    const entry: Waiting = { socket, forward, gone: () => this.waiting.delete(entry) };
    socket.on('error', entry.gone);
    socket.on('close', entry.gone);
    this.waiting.add(entry);
  }

  /** The first session exists: every connection that waited gets its stream. */
  flush(session: Session): void {
    for (const entry of [...this.waiting]) {
      this.waiting.delete(entry);
      entry.socket.off('error', entry.gone);
      entry.socket.off('close', entry.gone);
      if (!entry.socket.destroyed) this.open(session, entry.socket, entry.forward);
    }
  }

  private open(session: Session, socket: Socket, forward: Forward): void {
    if (session.open(socket, { host: forward.host, port: forward.hostPort }) === null) {
      log.warn('connection refused: too many streams', { ...this.owner.logFields, forward: describeForward({ ...forward, port: socket.localPort ?? forward.port }), limit: session.maxStreams });
    }
  }

  close(): void {
    for (const server of this.servers) server.close();
    for (const { socket } of this.waiting) socket.destroy();
    this.waiting.clear();
  }
}
