/*
 * Peers that expect a PROXY protocol header (v1 or v2) first, read by a parser of the test's
 * own (written from HAProxy's proxy-protocol.txt, independent of src/lib/proxy-header.ts): a
 * tcp echo server and an HTTP server that answer with what the header said.
 */
import { once } from 'node:events';
import { createServer as createHttpServer, type IncomingMessage } from 'node:http';
import { createServer, type Server, type Socket } from 'node:net';
import { WebSocketServer } from 'ws';

export interface ReceivedHeader {
  readonly version: 1 | 2;
  /** v2: PROXY or LOCAL; v1: PROXY (UNKNOWN shows as LOCAL). */
  readonly command: 'PROXY' | 'LOCAL';
  readonly family: 'TCP4' | 'TCP6' | 'UNSPEC';
  readonly source: string;
  readonly destination: string;
  readonly sourcePort: number;
  readonly destinationPort: number;
  /** The header's bytes. */
  readonly length: number;
}

const V2_SIGNATURE = Buffer.from('0d0a0d0a000d0a515549540a', 'hex');

function ipv6Text(bytes: Buffer): string {
  const words: string[] = [];
  for (let i = 0; i < 16; i += 2) words.push(bytes.readUInt16BE(i).toString(16));
  // The long form, then the one longest run of zero words shortened, as RFC 5952 wants.
  const text = words.join(':');
  const runs = [...text.matchAll(/(?:^|:)0(?::0)+(?::|$)/g)];
  const longest = runs.sort((a, b) => b[0].length - a[0].length)[0];
  return longest === undefined ? text : `${text.slice(0, longest.index)}::${text.slice((longest.index ?? 0) + longest[0].length)}`;
}

/** The header at the start of `data`, 'more' when incomplete, or an Error when it is not one. */
export function parseProxyHeader(data: Buffer): ReceivedHeader | 'more' | Error {
  if (data.length < 12 && V2_SIGNATURE.subarray(0, data.length).equals(data)) return 'more';
  if (data.length >= 12 && data.subarray(0, 12).equals(V2_SIGNATURE)) {
    if (data.length < 16) return 'more';
    const versionCommand = data[12] as number;
    if (versionCommand >> 4 !== 2) return new Error(`v2 version nibble ${versionCommand >> 4}`);
    const length = data.readUInt16BE(14);
    if (data.length < 16 + length) return 'more';
    const command = (versionCommand & 0x0f) === 1 ? 'PROXY' : 'LOCAL';
    const familyByte = data[13] as number;
    const body = data.subarray(16, 16 + length);
    if (familyByte === 0x11) {
      const ip = (at: number): string => [...body.subarray(at, at + 4)].join('.');
      return { version: 2, command, family: 'TCP4', source: ip(0), destination: ip(4), sourcePort: body.readUInt16BE(8), destinationPort: body.readUInt16BE(10), length: 16 + length };
    }
    if (familyByte === 0x21) {
      return { version: 2, command, family: 'TCP6', source: ipv6Text(body.subarray(0, 16)), destination: ipv6Text(body.subarray(16, 32)), sourcePort: body.readUInt16BE(32), destinationPort: body.readUInt16BE(34), length: 16 + length };
    }
    return { version: 2, command, family: 'UNSPEC', source: '', destination: '', sourcePort: 0, destinationPort: 0, length: 16 + length };
  }
  const end = data.indexOf('\r\n');
  if (end < 0) return data.length < 108 && 'PROXY '.startsWith(data.subarray(0, 6).toString('latin1')) ? 'more' : new Error('no PROXY header');
  const fields = data.subarray(0, end).toString('latin1').split(' ');
  if (fields[0] !== 'PROXY') return new Error(`not a PROXY line: ${JSON.stringify(fields.join(' '))}`);
  if (fields[1] === 'UNKNOWN') return { version: 1, command: 'LOCAL', family: 'UNSPEC', source: '', destination: '', sourcePort: 0, destinationPort: 0, length: end + 2 };
  if ((fields[1] !== 'TCP4' && fields[1] !== 'TCP6') || fields.length !== 6) return new Error(`bad v1 line: ${fields.join(' ')}`);
  return { version: 1, command: 'PROXY', family: fields[1], source: fields[2] ?? '', destination: fields[3] ?? '', sourcePort: Number(fields[4]), destinationPort: Number(fields[5]), length: end + 2 };
}

/** Reads the header off `socket`, then hands over the socket with the bytes after it put back. */
function readHeader(socket: Socket, done: (header: ReceivedHeader | Error) => void): void {
  let buffered = Buffer.alloc(0);
  const onData = (chunk: Buffer): void => {
    buffered = Buffer.concat([buffered, chunk]);
    const parsed = parseProxyHeader(buffered);
    if (parsed === 'more') return;
    socket.off('data', onData);
    socket.pause();
    if (!(parsed instanceof Error) && buffered.length > parsed.length) socket.unshift(buffered.subarray(parsed.length));
    done(parsed);
  };
  socket.on('data', onData);
}

export interface ProxyPeer {
  /** tcp://127.0.0.1:PORT */
  readonly address: string;
  readonly port: number;
  /** Every connection's header (or the Error its first bytes gave), in order. */
  readonly headers: (ReceivedHeader | Error)[];
  /** Resolves with the `index`th header once it has come (bounded). */
  header(index: number, timeoutMs?: number): Promise<ReceivedHeader>;
  close(): Promise<void>;
}

async function listening(server: Server, headers: (ReceivedHeader | Error)[], sockets: Set<Socket>, onClose: () => Promise<void> = async () => undefined): Promise<ProxyPeer> {
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const port = (server.address() as { port: number }).port;
  return {
    address: `tcp://127.0.0.1:${port}`,
    port,
    headers,
    header: async (index, timeoutMs = 5000) => {
      const deadline = Date.now() + timeoutMs;
      while (headers[index] === undefined && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 10));
      const found = headers[index];
      if (found === undefined) throw new Error(`no header #${index} within ${timeoutMs} ms (got ${headers.length})`);
      if (found instanceof Error) throw found;
      return found;
    },
    close: async () => {
      for (const socket of sockets) socket.destroy();
      server.close();
      await onClose();
    },
  };
}

/** A tcp echo server behind a PROXY header; a connection without one is recorded as an Error and closed. */
export async function proxyEcho(): Promise<ProxyPeer> {
  const headers: (ReceivedHeader | Error)[] = [];
  const sockets = new Set<Socket>();
  const server = createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => socket.destroy());
    readHeader(socket, (header) => {
      headers.push(header);
      if (header instanceof Error) socket.destroy();
      else socket.pipe(socket).on('error', () => socket.destroy());
    });
  });
  return listening(server, headers, sockets);
}

/**
 * An HTTP server behind a PROXY header: answers JSON { proxy: source address, forwardedFor,
 * forwarded }, to a request and as the first message of a WebSocket.
 */
export async function proxyHttpUpstream(): Promise<ProxyPeer> {
  const headers: (ReceivedHeader | Error)[] = [];
  const connections = new Set<Socket>();
  const seen = (request: IncomingMessage): string => {
    const header = (request.socket as Socket & { proxyHeader?: ReceivedHeader }).proxyHeader;
    return JSON.stringify({ proxy: header?.source ?? null, forwardedFor: request.headers['x-forwarded-for'] ?? null, forwarded: request.headers['forwarded'] ?? null });
  };
  const http = createHttpServer((request, response) => {
    response.setHeader('content-type', 'application/json');
    response.end(seen(request));
  });
  const sockets = new WebSocketServer({ noServer: true });
  http.on('upgrade', (request: IncomingMessage, socket: Socket, head: Buffer) => sockets.handleUpgrade(request, socket, head, (ws) => ws.send(seen(request))));
  const server = createServer((socket) => {
    connections.add(socket);
    socket.on('close', () => connections.delete(socket));
    socket.on('error', () => socket.destroy());
    readHeader(socket, (header) => {
      headers.push(header);
      if (header instanceof Error) {
        socket.destroy();
        return;
      }
      (socket as Socket & { proxyHeader?: ReceivedHeader }).proxyHeader = header;
      http.emit('connection', socket);
      socket.resume();
    });
  });
  return listening(server, headers, connections, async () => {
    for (const ws of sockets.clients) ws.terminate();
    sockets.close();
    http.close();
  });
}
