/*
 * The upstream the `upstream` class attacks websocksy from: an HTTP/1.1 server on node:net that
 * answers each request as its case scripted it, byte by byte: a good response cut into pieces,
 * a head mutated, a body that stops, a connection ended or reset anywhere, bytes past the
 * response. A case registers its script under a token before it sends the request, and the
 * token is the last segment of the request's path; a request nobody scripted (a GET websocksy
 * sends again after its kept-alive connection closed, once the case is over) gets a 404.
 * Connections are kept alive when the script says so, so that websocksy's pool reuses them.
 * One oracle of its own: every request's path is under the route's base.
 */
import { createServer, type Server, type Socket } from 'node:net';
import { once } from 'node:events';
import { resetConnection } from '../src/lib/reset-connection.js';
import { delay } from './raw-connection.js';

/** What the upstream writes, in order: bytes, or a pause in milliseconds. */
export type Step = Buffer | number;

export interface UpstreamScript {
  readonly steps: readonly Step[];
  /** After the steps: `keep` serves the connection's next request, `stay` holds it idle, `end` or `reset` closes it. */
  readonly then: 'keep' | 'stay' | 'end' | 'reset';
  /** The request's body is read before the steps (otherwise it is never read, and the connection is not reused). */
  readonly readBody: boolean;
}

/** The path segment the upstream sees before a case's token (the route's base). */
export const SCRIPTED_BASE = '/u';
/** A head no request is owed, longer than a client's view of it would need. */
const MAX_HEAD = 256 * 1024;
/** The `/raw` route's timeout (targets.ts). */
export const RAW_TIMEOUT_MS = 2000;
/** A request unanswered after this long hung: a stall is noticed within two timeouts. */
export const ANSWER_MS = 4 * RAW_TIMEOUT_MS + 2000;
/**
 * How long a connection the script holds (`stay`, or a body it never reads) is kept: past the
 * time a case waits for its answer, so that a websocksy that never gives up on it is seen to
 * hang; then it goes, so that the fuzzer does not pile up connections of its own.
 */
export const HOLD_MS = ANSWER_MS + 2000;

const UNSCRIPTED = Buffer.from('HTTP/1.1 404 Not Found\r\nContent-Length: 10\r\nConnection: close\r\n\r\nunscripted');

export class ScriptedUpstream {
  private readonly scripts = new Map<string, UpstreamScript>();
  private readonly sockets = new Set<Socket>();

  private constructor(
    private readonly server: Server,
    readonly port: number,
    private readonly found: (finding: string) => void,
  ) {}

  static async start(found: (finding: string) => void): Promise<ScriptedUpstream> {
    const server = createServer();
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const upstream = new ScriptedUpstream(server, (server.address() as { port: number }).port, found);
    server.on('connection', (socket) => upstream.serve(socket));
    return upstream;
  }

  script(token: string, script: UpstreamScript): void {
    this.scripts.set(token, script);
  }

  forget(token: string): void {
    this.scripts.delete(token);
  }

  private serve(socket: Socket): void {
    this.sockets.add(socket);
    socket.on('close', () => this.sockets.delete(socket));
    // websocksy cuts what it gives up on: that is the point, not a fault here.
    socket.on('error', () => socket.destroy());
    let pending: Buffer = Buffer.alloc(0);
    let busy = false;
    const next = (): void => {
      if (busy || socket.destroyed) return;
      const headEnd = pending.indexOf('\r\n\r\n');
      if (headEnd < 0) {
        if (pending.length > MAX_HEAD) socket.destroy();
        return;
      }
      const head = pending.subarray(0, headEnd).toString('latin1');
      const target = /^\S+ (\S+) /.exec(head)?.[1] ?? '';
      if (!target.startsWith(`${SCRIPTED_BASE}/`)) this.found(`the scripted upstream got ${JSON.stringify(head.slice(0, 200))}, outside the route's base path ${SCRIPTED_BASE}`);
      const token = /\/([0-9a-z]+)(?:\?.*)?$/.exec(target)?.[1] ?? '';
      const script = this.scripts.get(token);
      const length = Number(/\r\ncontent-length: *(\d+)/i.exec(head)?.[1] ?? 0);
      const chunked = /\r\ntransfer-encoding:/i.test(head);
      const reads = script !== undefined && script.readBody && !chunked;
      if (reads && pending.length < headEnd + 4 + length) return;
      pending = pending.subarray(headEnd + 4 + (reads ? length : 0));
      // A body the script does not read must stay unread: the kernel's buffers fill, and
      // websocksy sees an upstream that takes nothing.
      if (!reads) hold(socket);
      const then = afterwards(script, reads || (length === 0 && !chunked));
      busy = true;
      void this.play(socket, script).then(() => {
        busy = false;
        if (socket.destroyed) return;
        if (then === 'end') socket.end();
        else if (then === 'reset') resetConnection(socket);
        else if (then === 'stay') hold(socket);
        else next();
      });
    };
    socket.on('data', (chunk: Buffer) => {
      pending = pending.length === 0 ? chunk : Buffer.concat([pending, chunk]);
      next();
    });
  }

  private async play(socket: Socket, script: UpstreamScript | undefined): Promise<void> {
    if (script === undefined) {
      socket.write(UNSCRIPTED);
      return;
    }
    for (const step of script.steps) {
      if (socket.destroyed) return;
      if (typeof step === 'number') await delay(step);
      else socket.write(step);
    }
  }

  async close(): Promise<void> {
    for (const socket of this.sockets) socket.destroy();
    this.server.close();
    await once(this.server, 'close');
  }
}

/**
 * What the connection does after the script: as it says, except that it is served on only when
 * nothing unread (a body left, or one of a length not counted) stands before its next request.
 */
function afterwards(script: UpstreamScript | undefined, bodyRead: boolean): UpstreamScript['then'] {
  if (script === undefined) return 'end';
  if (script.then === 'keep' && !bodyRead) return 'end';
  return script.then;
}

/** Reads no more from `socket`, and drops it after HOLD_MS. */
function hold(socket: Socket): void {
  if (socket.isPaused()) return;
  socket.pause();
  setTimeout(() => socket.destroy(), HOLD_MS).unref();
}
