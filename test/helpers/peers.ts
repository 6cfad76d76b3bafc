/*
 * Real network peers for the tests: echo servers on tcp, unix, udp and unix-dgram, and a tcp
 * server whose behaviour the test scripts.
 */
import { createSocket as createUdpSocket } from 'node:dgram';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createSocket as createUnixDgramSocket } from 'unix-dgram';

export interface Peer {
  /** Peer address as a backend would write it. */
  readonly address: string;
  close(): Promise<void>;
}

export function tempDir(prefix = 'websocksy-test-'): { path: string; remove(): void } {
  const path = mkdtempSync(join(tmpdir(), prefix));
  return { path, remove: () => rmSync(path, { recursive: true, force: true }) };
}

/**
 * A tcp (or unix, with `path`) server handing each connection to `onConnection`;
 * `allowHalfOpen` keeps a connection writable after the other side's FIN.
 */
export async function streamServer(
  onConnection: (socket: Socket) => void,
  path?: string,
  { allowHalfOpen = false }: { allowHalfOpen?: boolean } = {},
): Promise<Peer & { server: Server; sockets: Set<Socket> }> {
  const sockets = new Set<Socket>();
  const server = createServer({ allowHalfOpen }, (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => socket.destroy());
    onConnection(socket);
  });
  if (path === undefined) server.listen(0, '127.0.0.1');
  else server.listen(path);
  await once(server, 'listening');
  const bound = server.address();
  const address = typeof bound === 'string' || bound === null ? `unix://${path ?? ''}` : `tcp://127.0.0.1:${bound.port}`;
  return {
    address,
    server,
    sockets,
    close: async () => {
      for (const socket of sockets) socket.destroy();
      server.close();
      await once(server, 'close');
    },
  };
}

export function tcpEcho(): ReturnType<typeof streamServer> {
  return streamServer((socket) => socket.pipe(socket));
}

export function unixEcho(path: string): ReturnType<typeof streamServer> {
  return streamServer((socket) => socket.pipe(socket), path);
}

export async function udpEcho(): Promise<Peer> {
  const socket = createUdpSocket('udp4');
  socket.on('message', (message, remote) => socket.send(message, remote.port, remote.address));
  socket.bind(0, '127.0.0.1');
  await once(socket, 'listening');
  return {
    address: `udp://127.0.0.1:${socket.address().port}`,
    close: async () => {
      socket.close();
      await once(socket, 'close');
    },
  };
}

export function unixDgramEcho(path: string): Promise<Peer> {
  const socket = createUnixDgramSocket('unix_dgram');
  socket.on('message', (message, info) => {
    if (info.path !== undefined) (socket as unknown as { send(b: Buffer, o: number, l: number, p: string): void }).send(message, 0, message.length, info.path);
  });
  socket.bind(path);
  return Promise.resolve({
    address: `unix-dgram://${path}`,
    close: () => {
      socket.close();
      return Promise.resolve();
    },
  });
}

/** Writes `total` bytes of `pattern` repeated, at most `chunk` per write, honouring the socket's backpressure, then ends it. */
export function pushPattern(socket: Socket, pattern: Buffer, total: number, chunk = Infinity): void {
  let sent = 0;
  const pump = (): void => {
    while (sent < total) {
      const start = sent % pattern.length;
      const length = Math.min(chunk, pattern.length - start, total - sent);
      sent += length;
      if (!socket.write(pattern.subarray(start, start + length))) {
        socket.once('drain', pump);
        return;
      }
    }
    socket.end();
  };
  pump();
}

/** Checks a stream that pushPattern wrote as it arrives, in pieces of any size: the first difference, and the bytes seen. */
export class PatternCheck {
  received = 0;
  mismatch: string | null = null;

  constructor(private readonly pattern: Buffer) {}

  /** Takes the next piece of the stream; `label` names it in the mismatch (a message number). */
  take(data: Buffer, label = ''): void {
    let offset = 0;
    while (offset < data.length && this.mismatch === null) {
      const start = (this.received + offset) % this.pattern.length;
      const length = Math.min(data.length - offset, this.pattern.length - start);
      if (!data.subarray(offset, offset + length).equals(this.pattern.subarray(start, start + length))) {
        this.mismatch = `${label}bytes differ in ${length} bytes at stream offset ${this.received + offset}; the piece begins ${data.subarray(0, 10).toString('hex')}`;
      }
      offset += length;
    }
    this.received += data.length;
  }
}
