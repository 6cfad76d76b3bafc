/*
 * A model of two tunnel ends in one process, for seeded tests of Session and TunnelStream: a
 * client and a server Session joined by an in-memory link that the test can drop (frames in
 * flight are lost), stall (frames wait) and reconnect (the hello / welcome resume exchange of
 * client.ts and server.ts, in the same order). Streams run on in-process socket pairs
 * (src/lib/pipe.ts), with an application at each end that writes a random stream in random
 * chunks, half-closes at a random moment and reads with random pauses.
 */
import { createHash } from 'node:crypto';
import { PipeEnd } from '../../src/lib/pipe.js';
import type { LogFields } from '../../src/lib/log.js';
import { Session, type SessionOwner, type Transport } from '../../src/tunnel/mux.js';
import type { ControlMessage, OpenTarget, ResumeState } from '../../src/tunnel/protocol.js';
import type { StreamSocket, TunnelStream } from '../../src/tunnel/stream.js';
import type { Random } from './random.js';

type Item = { readonly frame: Buffer } | { readonly hello: ResumeState } | { readonly welcome: ResumeState };

/** One direction of the link in one generation (a WebSocket connection). */
class Lane {
  readonly items: Item[] = [];
}

class LinkTransport implements Transport {
  constructor(
    private readonly link: ModelLink,
    private readonly generation: number,
    private readonly lane: Lane,
  ) {}

  send(frame: Buffer): void {
    // A copy: the session may reuse nothing, but a frame on the wire is immutable.
    if (this.link.generation === this.generation) this.lane.items.push({ frame: Buffer.from(frame) });
  }

  close(): void {
    if (this.link.generation === this.generation) this.link.drop();
  }
}

/** Application data at one end of a stream: what it sends and what it got. */
export class ModelApp {
  readonly chunks: Buffer[] = [];
  receivedBytes = 0;
  private readonly receivedHash = createHash('sha256');
  ended = false;
  closedEarly: string | null = null;

  constructor(
    readonly socket: PipeEnd,
    readonly send: Buffer,
    /** Destroys its socket after this many bytes instead of ending it (null: ends normally). */
    readonly abortAfter: number | null = null,
  ) {}

  /** Its stream is over for it: the other side's end arrived, or its socket is gone. */
  get over(): boolean {
    return this.ended || this.socket.destroyed;
  }

  get received(): string {
    return this.receivedHash.copy().digest('hex');
  }

  take(chunk: Buffer): void {
    this.receivedBytes += chunk.length;
    this.receivedHash.update(chunk);
  }
}

export interface ModelStream {
  readonly index: number;
  readonly openedBy: 'client' | 'server';
  readonly opener: ModelApp;
  /** What the dialled side's application sends. */
  readonly dialledBytes: number;
  /** Which application aborts the stream (destroys its socket mid-way), if any. */
  readonly abortedBy: 'opener' | 'dialled' | null;
  dialled: ModelApp | null;
}

/** A stream's counters, read past its privacy, for the message of a failed run. */
export function describeStream(stream: TunnelStream): string {
  const fields = stream as unknown as Record<string, unknown>;
  const socket = fields['socket'] as StreamSocket | null;
  const pending = fields['pending'] as Buffer | null;
  const counters = ['state', 'openedHere', 'sent', 'acked', 'received', 'advertised', 'localEnded', 'finSent', 'finReceived', 'pausedForCredit'].map((key) => `${key}=${String(fields[key])}`);
  return `${counters.join(' ')} pending=${pending?.length ?? 0} consumed=${stream.consumed()} socket=${socket === null ? 'none' : `queued ${socket.writableLength}${socket.destroyed ? ' destroyed' : ''}`}`;
}

export function sha256(data: Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}

class ModelOwner implements SessionOwner {
  session!: Session;
  readonly failures: string[] = [];
  readonly resets: string[] = [];

  constructor(
    readonly side: 'client' | 'server',
    private readonly model: TunnelModel,
  ) {}

  get logFields(): LogFields {
    return { side: this.side };
  }

  dial(target: OpenTarget): Promise<StreamSocket> {
    return this.model.dial(this.side, target);
  }

  onControl(message: ControlMessage): void {
    this.failures.push(`unexpected control message ${message.type}`);
  }

  onStreamEnded(stream: TunnelStream, reason: string | null): void {
    if (reason !== null) this.resets.push(`${this.side} stream ${stream.id}: ${reason}`);
  }

  onTransportFailed(reason: string): void {
    this.failures.push(`${this.side}: ${reason}`);
    this.model.link.drop();
  }
}

export class ModelLink {
  generation = 0;
  up = false;
  stalled = false;
  private toServer = new Lane();
  private toClient = new Lane();
  drops = 0;

  constructor(
    private readonly client: ModelOwner,
    private readonly server: ModelOwner,
  ) {}

  /** The connection breaks: both sides detach, whatever was in flight is lost. */
  drop(): void {
    this.generation++;
    this.up = false;
    this.stalled = false;
    this.drops++;
    this.client.session.detach();
    this.server.session.detach();
    this.toServer = new Lane();
    this.toClient = new Lane();
  }

  /** A new connection: the client says hello with its state, as client.ts does on 'open'. */
  connect(): void {
    this.generation++;
    this.toServer = new Lane();
    this.toClient = new Lane();
    this.toServer.items.push({ hello: this.client.session.resumeState() });
  }

  /** Delivers up to `count` items in each direction; false when nothing was waiting. */
  deliver(count: number): boolean {
    if (this.stalled) return false;
    let moved = false;
    const generation = this.generation;
    for (let i = 0; i < count && this.generation === generation; i++) {
      const toServer = this.toServer.items.shift();
      if (toServer !== undefined) {
        moved = true;
        this.arriveAtServer(toServer);
      }
      if (this.generation !== generation) break;
      const toClient = this.toClient.items.shift();
      if (toClient !== undefined) {
        moved = true;
        this.arriveAtClient(toClient);
      }
    }
    return moved;
  }

  private arriveAtServer(item: Item): void {
    const server = this.server.session;
    if ('frame' in item) {
      server.onMessage(item.frame, true);
    } else if ('hello' in item) {
      // server.ts: attach, answer with the server's state, then replay what the client lacks.
      server.attach(new LinkTransport(this, this.generation, this.toClient));
      this.up = true;
      this.toClient.items.push({ welcome: server.resumeState() });
      server.resume(item.hello);
    }
  }

  private arriveAtClient(item: Item): void {
    const client = this.client.session;
    if ('frame' in item) {
      client.onMessage(item.frame, true);
    } else if ('welcome' in item) {
      client.attach(new LinkTransport(this, this.generation, this.toServer));
      client.resume(item.welcome);
    }
  }
}

export interface ModelOptions {
  readonly window: number;
  readonly clientFirstId?: number;
  readonly serverFirstId?: number;
}

export class TunnelModel {
  readonly client: ModelOwner;
  readonly server: ModelOwner;
  readonly link: ModelLink;
  readonly streams: ModelStream[] = [];

  constructor(
    private readonly random: Random,
    options: ModelOptions,
  ) {
    this.client = new ModelOwner('client', this);
    this.server = new ModelOwner('server', this);
    this.client.session = new Session('client', options.window, this.client, options.clientFirstId === undefined ? {} : { firstStreamId: options.clientFirstId });
    this.server.session = new Session('server', options.window, this.server, options.serverFirstId === undefined ? {} : { firstStreamId: options.serverFirstId });
    this.link = new ModelLink(this.client, this.server);
  }

  /** Opens a stream from `side` whose applications send `openerBytes` and `dialledBytes`. */
  open(side: 'client' | 'server', openerBytes: number, dialledBytes: number, abortedBy: ModelStream['abortedBy'] = null): ModelStream {
    const index = this.streams.length;
    const [app, tunnelEnd] = PipeEnd.pair();
    const abortAfter = abortedBy === 'opener' ? this.random.int(0, openerBytes) : null;
    const stream: ModelStream = { index, openedBy: side, opener: new ModelApp(app, this.random.bytes(openerBytes), abortAfter), dialledBytes, abortedBy, dialled: null };
    this.streams.push(stream);
    const owner = side === 'client' ? this.client : this.server;
    if (owner.session.open(tunnelEnd, { host: 'model', port: index }) === null) throw new Error('session refused a stream');
    this.runApp(stream.opener);
    return stream;
  }

  /** The far side dials: a new socket pair after a random delay, its application starts. */
  dial(side: 'client' | 'server', target: OpenTarget): Promise<StreamSocket> {
    const stream = 'port' in target ? this.streams[target.port] : undefined;
    if (stream === undefined || stream.openedBy === side) return Promise.reject(new Error(`no model stream for ${JSON.stringify(target)}`));
    return new Promise((resolve) => {
      setTimeout(() => {
        const [app, tunnelEnd] = PipeEnd.pair();
        const abortAfter = stream.abortedBy === 'dialled' ? this.random.int(0, stream.dialledBytes) : null;
        stream.dialled = new ModelApp(app, this.random.bytes(stream.dialledBytes), abortAfter);
        this.runApp(stream.dialled);
        resolve(tunnelEnd);
      }, this.random.int(0, 3));
    });
  }

  /** Writes the app's data in random chunks (some beyond a frame's payload), then half-closes; reads with pauses. */
  private runApp(app: ModelApp): void {
    const random = this.random;
    const socket = app.socket;
    socket.on('data', (chunk: Buffer) => {
      app.take(chunk);
      if (random.chance(0.2)) {
        socket.pause();
        setTimeout(() => socket.resume(), random.int(0, 4));
      }
    });
    socket.on('end', () => (app.ended = true));
    socket.on('error', (error: Error) => (app.closedEarly = error.message));
    let offset = 0;
    const last = app.abortAfter ?? app.send.length;
    const writeMore = (): void => {
      if (socket.destroyed) return;
      while (offset < last) {
        const size = Math.min(last - offset, random.chance(0.1) ? random.int(65_537, 200_000) : random.int(1, 20_000));
        const chunk = app.send.subarray(offset, offset + size);
        offset += chunk.length;
        if (!socket.write(chunk)) {
          socket.once('drain', () => setTimeout(writeMore, random.int(0, 2)));
          return;
        }
        if (random.chance(0.3)) {
          setTimeout(writeMore, random.int(0, 3));
          return;
        }
      }
      if (app.abortAfter !== null) {
        setTimeout(() => socket.destroy(), random.int(0, 5));
        return;
      }
      // Half-close at once or a little later.
      if (random.chance(0.5)) socket.end();
      else setTimeout(() => socket.end(), random.int(0, 5));
    };
    setTimeout(writeMore, random.int(0, 3));
  }

  /** True when every application got the other's whole stream and its end, or saw its stream aborted. */
  get allDelivered(): boolean {
    return this.streams.every((stream) => {
      if (stream.abortedBy === null) return stream.dialled !== null && stream.opener.ended && stream.dialled.ended;
      return stream.opener.over && (stream.dialled === null || stream.dialled.over);
    });
  }
}
