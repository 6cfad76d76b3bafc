/*
 * HTTP fixtures for route tests: a real node:http upstream that echoes what it got, hashes
 * uploads, streams downloads of any size (content-length or chunked) with backpressure and
 * can stall; and a client that streams bodies both ways and hashes what comes back, so a
 * 100 MB body never sits in the test's memory.
 */
import { createHash } from 'node:crypto';
import { once } from 'node:events';
import { Agent, createServer, request, type IncomingHttpHeaders, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { idleConnectionsOf } from './idle-connections.js';
import { pattern } from './tunnel.js';

export const BLOCK = pattern(11);

/** sha256 of the first `total` bytes of BLOCK repeated. */
export function patternHash(total: number): string {
  const hash = createHash('sha256');
  for (let sent = 0; sent < total; ) {
    const start = sent % BLOCK.length;
    const chunk = BLOCK.subarray(start, Math.min(BLOCK.length, start + (total - sent)));
    hash.update(chunk);
    sent += chunk.length;
  }
  return hash.digest('hex');
}

/** Writes `total` pattern bytes with backpressure; resolves when all are handed over. */
export async function writePattern(out: { write(chunk: Buffer): boolean; once(event: 'drain', listener: () => void): unknown }, total: number): Promise<void> {
  for (let sent = 0; sent < total; ) {
    const start = sent % BLOCK.length;
    const chunk = BLOCK.subarray(start, Math.min(BLOCK.length, start + (total - sent)));
    sent += chunk.length;
    if (!out.write(chunk)) await new Promise<void>((resolve) => out.once('drain', resolve));
  }
}

export interface EchoBody {
  method: string;
  url: string;
  headers: IncomingHttpHeaders;
  bytes: number;
  sha256: string;
}

function handle(req: IncomingMessage, res: ServerResponse): void {
  const url = new URL(req.url ?? '/', 'http://upstream');
  const hash = createHash('sha256');
  let bytes = 0;
  req.on('data', (chunk: Buffer) => {
    bytes += chunk.length;
    hash.update(chunk);
  });
  req.on('end', () => {
    if (url.pathname.endsWith('/stall')) return;
    if (url.pathname.endsWith('/download')) {
      const total = Number(url.searchParams.get('bytes') ?? '0');
      if (url.searchParams.get('chunked') === null) res.setHeader('Content-Length', total);
      res.setHeader('X-Pattern-Bytes', String(total));
      void writePattern(res, total).then(() => res.end());
      return;
    }
    if (url.pathname.endsWith('/status')) {
      res.statusCode = Number(url.searchParams.get('code') ?? '200');
      res.setHeader('X-Custom', 'kept');
      res.end(res.statusCode === 204 || res.statusCode === 304 ? undefined : `status ${res.statusCode}\n`);
      return;
    }
    const body: EchoBody = { method: req.method ?? '', url: req.url ?? '', headers: req.headers, bytes, sha256: hash.digest('hex') };
    res.setHeader('Content-Type', 'application/json');
    res.setHeader('X-Upstream', 'echo');
    res.setHeader('Set-Cookie', ['a=1', 'b=2']);
    res.end(JSON.stringify(body));
  });
}

export interface Upstream {
  readonly port: number;
  readonly server: Server;
  close(): Promise<void>;
}

export async function startUpstream(): Promise<Upstream> {
  const sockets = new Set<Socket>();
  const server = createServer(handle);
  server.on('connection', (socket: Socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return {
    port: (server.address() as { port: number }).port,
    server,
    close: async () => {
      for (const socket of sockets) socket.destroy();
      server.close();
      await once(server, 'close');
    },
  };
}

export interface Reply {
  status: number;
  headers: IncomingHttpHeaders;
  rawHeaders: string[];
  bytes: number;
  sha256: string;
  text: string;
}

export const agent = idleConnectionsOf(new Agent({ keepAlive: true, maxSockets: 256 }));

export interface Send {
  method?: string;
  headers?: Record<string, string>;
  /** A small body, or the number of pattern bytes to stream. */
  body?: string | number;
  /** Stream the pattern body chunked (no Content-Length). */
  chunked?: boolean;
}

/** How long send() waits for a reply to start, and between its chunks. */
const SEND_TIMEOUT_MS = 60_000;

/**
 * One request to 127.0.0.1:port; the reply's body is hashed, and kept as text when small. A
 * request that went out on a kept-alive connection the server was closing as idle (reset before
 * any answer) is sent once more on a new one, as HTTP clients do (Node's `reusedSocket` advice):
 * that race is the keep-alive's, not the server's.
 */
export function send(port: number, path: string, options: Send = {}): Promise<Reply> {
  return sendOnce(port, path, options).catch((error: unknown) => {
    if (!(error instanceof StaleConnection)) throw error;
    return sendOnce(port, path, options);
  });
}

/** The reset of a request sent on a reused idle connection, before any answer. */
class StaleConnection extends Error {}

function sendOnce(port: number, path: string, options: Send): Promise<Reply> {
  return new Promise((resolve, reject) => {
    let answered = false;
    const headers: Record<string, string> = { ...options.headers };
    if (typeof options.body === 'string') headers['content-length'] = String(Buffer.byteLength(options.body));
    else if (typeof options.body === 'number' && options.chunked !== true) headers['content-length'] = String(options.body);
    const req = request({ host: '127.0.0.1', port, path, method: options.method ?? 'GET', headers, agent }, (res) => {
      answered = true;
      const hash = createHash('sha256');
      let bytes = 0;
      const small: Buffer[] = [];
      res.on('data', (chunk: Buffer) => {
        bytes += chunk.length;
        hash.update(chunk);
        if (bytes <= 65536) small.push(chunk);
      });
      res.on('end', () =>
        resolve({ status: res.statusCode ?? 0, headers: res.headers, rawHeaders: res.rawHeaders, bytes, sha256: hash.digest('hex'), text: Buffer.concat(small).toString('utf8') }),
      );
      res.on('error', reject);
    });
    // A request that never gets an answer fails its test here, rather than hanging its file.
    req.setTimeout(SEND_TIMEOUT_MS, () => req.destroy(new Error(`no answer to ${options.method ?? 'GET'} ${path} within ${SEND_TIMEOUT_MS / 1000} s`)));
    req.on('error', (error: NodeJS.ErrnoException) => {
      const stale = req.reusedSocket && error.code === 'ECONNRESET' && !answered;
      reject(stale ? new StaleConnection(`${error.message} (a reused idle connection)`) : error);
    });
    if (typeof options.body === 'number') void writePattern(req, options.body).then(() => req.end());
    else req.end(options.body);
  });
}

export function echoOf(reply: Reply): EchoBody {
  return JSON.parse(reply.text) as EchoBody;
}
