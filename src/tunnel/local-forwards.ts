/*
 * A tunnel client's local forwards (-L): it listens on each forward's bind:port for as long as
 * it runs, and hands every connection to the current session as a stream to host:port on the
 * far side. Connections that arrive before the first session exists wait for it, at most
 * MAX_STREAMS_PER_SESSION of them (a session could not take more at once): past that they are
 * closed and logged. So do those a draining server asked to open elsewhere (goaway) while the
 * new session is on its way. Each listener callback runs behind the guard, owned by its
 * connection.
 */
import { once } from 'node:events';
import { createServer, type Server, type Socket } from 'node:net';
import { errorCode } from '../lib/errors.js';
import { processOwner, runGuarded, type Guarded } from '../lib/guard.js';
import { log, type LogFields } from '../lib/log.js';
import { describeForward, type Forward } from './forward.js';
import { MAX_STREAMS_PER_SESSION, type Session } from './mux.js';
import { adoptSharedRead } from '../lib/shared-read.js';
import type { OpenTarget } from './protocol.js';
import type { StreamSocket } from './stream.js';

/** The client the forwards belong to. */
export interface ForwardsOwner {
  readonly logFields: LogFields;
  /** The session to open streams in, or null before the first welcome. */
  readonly currentSession: Session | null;
}

const listenerOwner = processOwner('local forward');

interface Waiting {
  readonly socket: StreamSocket;
  readonly target: OpenTarget;
  readonly logFields: LogFields;
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
      const server = createServer({ allowHalfOpen: true, pauseOnConnect: true }, (socket) => this.onConnection(adoptSharedRead(socket), forward));
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
      this.openOrWait(socket, { host: forward.host, port: forward.hostPort }, connection.logFields);
    });
  }

  /** A connection whose OPEN a goaway'd server rejected: on the new session once there is one. */
  reopen(socket: StreamSocket, target: OpenTarget): void {
    const fields = { ...this.owner.logFields, target: 'listener' in target ? `listener ${target.listener}` : `${target.host}:${target.port}` };
    log.info('stream moved to the new connection', fields);
    this.openOrWait(socket, target, fields);
  }

  private openOrWait(socket: StreamSocket, target: OpenTarget, fields: LogFields): void {
    const session = this.owner.currentSession;
    if (session !== null) this.open(session, socket, target, fields);
    else this.wait(socket, target, fields);
  }

  private wait(socket: StreamSocket, target: OpenTarget, logFields: LogFields): void {
    if (this.waiting.size >= MAX_STREAMS_PER_SESSION) {
      log.warn('connection refused: too many waiting for the tunnel', { ...logFields, limit: MAX_STREAMS_PER_SESSION });
      socket.destroy();
      return;
    }
    const entry: Waiting = { socket, target, logFields, gone: () => this.waiting.delete(entry) };
    socket.on('error', entry.gone);
    socket.on('close', entry.gone);
    this.waiting.add(entry);
  }

  /** A session exists (the first, or the one after a goaway): every connection that waited gets its stream. */
  flush(session: Session): void {
    for (const entry of [...this.waiting]) {
      this.waiting.delete(entry);
      entry.socket.off('error', entry.gone);
      entry.socket.off('close', entry.gone);
      if (!entry.socket.destroyed) this.open(session, entry.socket, entry.target, entry.logFields);
    }
  }

  private open(session: Session, socket: StreamSocket, target: OpenTarget, fields: LogFields): void {
    if (session.open(socket, target, true) === null) log.warn('connection refused: too many streams', { ...fields, limit: session.maxStreams });
  }

  close(): void {
    for (const server of this.servers) server.close();
    for (const { socket } of this.waiting) socket.destroy();
    this.waiting.clear();
  }
}
