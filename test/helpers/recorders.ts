/*
 * Peers that record what they got, for the tests that count bytes: a stream peer (tcp or unix)
 * keeps each connection's bytes until its EOF, a datagram peer (udp or unix-dgram) keeps each
 * sender's datagrams. A stream peer may start paused (it reads nothing until resume()), to
 * leave what websocksy sends it queued on websocksy's side.
 */
import { createHash } from 'node:crypto';
import { createSocket as createUdpSocket } from 'node:dgram';
import { once } from 'node:events';
import type { Socket } from 'node:net';
import { createSocket as createUnixDgramSocket } from 'unix-dgram';
import { streamServer, type Peer } from './peers.js';

export interface RecordingPeer extends Peer {
  /** What each finished connection (stream: EOF seen) or each sender (datagram) delivered. */
  deliveries(): Buffer[];
  /**
   * Resolves once `count` deliveries are in (streams), holding `bytes` in all (datagrams, which
   * have no end), or rejects after `timeoutMs`.
   */
  waitFor(count: number, bytes: number, timeoutMs?: number): Promise<Buffer[]>;
  /** Starts reading on every connection, now and from now on (paused peers). */
  resume(): void;
}

/** Collects deliveries and wakes whoever waits for them. */
class Deliveries {
  private readonly waiters = new Set<() => void>();

  /** `countSuffices`: a delivery is final once in (a stream's EOF), so no more bytes can follow. */
  constructor(
    readonly current: () => Buffer[],
    private readonly countSuffices: boolean,
  ) {}

  changed(): void {
    for (const wake of this.waiters) wake();
  }

  waitFor(count: number, bytes: number, timeoutMs: number): Promise<Buffer[]> {
    return new Promise((resolve, reject) => {
      const check = (): boolean => {
        const now = this.current();
        if (now.length < count || (!this.countSuffices && totalLength(now) < bytes)) return false;
        done();
        resolve(now);
        return true;
      };
      const timer = setTimeout(() => {
        done();
        const now = this.current();
        reject(new Error(`peer got ${now.length} of ${count} deliveries, ${totalLength(now)} of ${bytes} bytes, in ${timeoutMs} ms`));
      }, timeoutMs);
      const done = (): void => {
        clearTimeout(timer);
        this.waiters.delete(wake);
      };
      const wake = (): void => void check();
      if (!check()) this.waiters.add(wake);
    });
  }
}

export function totalLength(buffers: readonly Uint8Array[]): number {
  return buffers.reduce((sum, buffer) => sum + buffer.length, 0);
}

/** sha256 of each buffer, sorted: two lists of deliveries compare equal whatever their order. */
export function digests(buffers: readonly Uint8Array[]): string[] {
  return buffers.map((buffer) => createHash('sha256').update(buffer).digest('hex')).sort();
}

/**
 * A tcp server (or unix, with `path`) keeping each connection's bytes; it ends its side at EOF,
 * or `endAfterMs` after the connection came.
 */
export async function recordingStreamPeer(path?: string, { paused = false, endAfterMs }: { paused?: boolean; endAfterMs?: number } = {}): Promise<RecordingPeer> {
  const finished: Buffer[] = [];
  const deliveries = new Deliveries(() => finished, true);
  let reading = !paused;
  const open = new Set<Socket>();
  const peer = await streamServer(
    (socket) => {
      const chunks: Buffer[] = [];
      open.add(socket);
      if (!reading) socket.pause();
      // Ends its own side first (half-close) and goes on reading.
      if (endAfterMs !== undefined) setTimeout(() => socket.end(), endAfterMs);
      socket.on('data', (chunk: Buffer) => chunks.push(chunk));
      socket.once('end', () => {
        open.delete(socket);
        finished.push(Buffer.concat(chunks));
        socket.end();
        deliveries.changed();
      });
    },
    path,
    { allowHalfOpen: true },
  );
  return {
    address: peer.address,
    close: peer.close,
    deliveries: () => finished,
    waitFor: (count, bytes, timeoutMs = 10_000) => deliveries.waitFor(count, bytes, timeoutMs),
    resume: () => {
      reading = true;
      for (const socket of open) socket.resume();
    },
  };
}

/**
 * Datagrams grouped by sender, each sender's in arrival order. A sender's address is not a
 * connection: the kernel may give a closed connection's port to a later one. Where a test's
 * connections each open with a known first datagram, `startsDelivery` names it, and a sender's
 * datagrams from there on are a delivery of their own.
 */
class DatagramLog {
  readonly bySender = new Map<string, Buffer[]>();
  readonly deliveries = new Deliveries(() => [...this.bySender.values()].map((datagrams) => Buffer.concat(datagrams)), false);
  private readonly starts = new Map<string, number>();

  constructor(private readonly startsDelivery: ((datagram: Buffer) => boolean) | undefined) {}

  add(address: string, datagram: Buffer): void {
    if (this.startsDelivery?.(datagram) === true) this.starts.set(address, (this.starts.get(address) ?? 0) + 1);
    const sender = `${address}#${this.starts.get(address) ?? 0}`;
    let datagrams = this.bySender.get(sender);
    if (datagrams === undefined) {
      datagrams = [];
      this.bySender.set(sender, datagrams);
    }
    datagrams.push(datagram);
    this.deliveries.changed();
  }

  peer(address: string, close: () => Promise<void>): RecordingPeer {
    return {
      address,
      close,
      deliveries: this.deliveries.current,
      waitFor: (count, bytes, timeoutMs = 10_000) => this.deliveries.waitFor(count, bytes, timeoutMs),
      resume: () => undefined,
    };
  }
}

export async function recordingUdpPeer(startsDelivery?: (datagram: Buffer) => boolean): Promise<RecordingPeer> {
  const log = new DatagramLog(startsDelivery);
  const socket = createUdpSocket('udp4');
  socket.on('message', (message, remote) => log.add(String(remote.port), message));
  socket.bind(0, '127.0.0.1');
  await once(socket, 'listening');
  return log.peer(`udp://127.0.0.1:${socket.address().port}`, async () => {
    socket.close();
    await once(socket, 'close');
  });
}

export function recordingUnixDgramPeer(path: string, startsDelivery?: (datagram: Buffer) => boolean): Promise<RecordingPeer> {
  const log = new DatagramLog(startsDelivery);
  const socket = createUnixDgramSocket('unix_dgram');
  socket.on('message', (message, info) => log.add(info.path ?? '', message));
  socket.bind(path);
  return Promise.resolve(
    log.peer(`unix-dgram://${path}`, () => {
      socket.close();
      return Promise.resolve();
    }),
  );
}
