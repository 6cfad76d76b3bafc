/* Raw HTTP over a TCP socket, for handshakes that a WebSocket client library would not send. */
import { connect } from 'node:net';

export interface RawResponse {
  readonly status: number;
  readonly headers: ReadonlyMap<string, string>;
  readonly body: string;
  readonly raw: string;
}

function parseResponse(raw: string): RawResponse {
  const [head = '', ...rest] = raw.split('\r\n\r\n');
  const [statusLine = '', ...headerLines] = head.split('\r\n');
  const headers = new Map<string, string>();
  for (const line of headerLines) {
    const colon = line.indexOf(':');
    if (colon > 0) headers.set(line.slice(0, colon).trim().toLowerCase(), line.slice(colon + 1).trim());
  }
  return { status: Number(statusLine.split(' ')[1]), headers, body: rest.join('\r\n\r\n'), raw };
}

/** Sends `request` as is and reads until the server closes, or until the 101's headers end. */
export function rawRequest(port: number, request: string, timeoutMs = 5000): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    let raw = '';
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`no complete answer in time; got: ${JSON.stringify(raw)}`));
    }, timeoutMs);
    const finish = (): void => {
      clearTimeout(timer);
      socket.destroy();
      resolve(parseResponse(raw));
    };
    socket.on('data', (chunk) => {
      raw += chunk.toString('latin1');
      if (raw.startsWith('HTTP/1.1 101') && raw.includes('\r\n\r\n')) finish();
    });
    socket.on('end', finish);
    socket.on('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
    socket.write(request);
  });
}

/**
 * Writes `request` (a head and its body) whole before it reads a byte of the answer, as a simple
 * client does; then reads one answer, framed by its Content-Length, closes its side, and waits
 * for the server to close too. Rejects if the connection is reset at any point (a write or a
 * read that fails), or if any of it takes longer than `timeoutMs`.
 */
export function sendAllThenRead(port: number, request: Buffer, timeoutMs = 10_000): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    let raw = '';
    let stage = 'writing the request';
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`stuck ${stage}; got: ${JSON.stringify(raw.slice(0, 300))}`));
    }, timeoutMs);
    socket.on('error', (error) => {
      clearTimeout(timer);
      reject(new Error(`${error.message} while ${stage}; got: ${JSON.stringify(raw.slice(0, 300))}`));
    });
    socket.write(request, (error) => {
      if (error !== undefined && error !== null) return;
      stage = 'reading the answer';
      socket.on('data', (chunk: Buffer) => {
        raw += chunk.toString('latin1');
        const headEnd = raw.indexOf('\r\n\r\n');
        if (headEnd < 0 || stage !== 'reading the answer') return;
        const length = Number(/\r\ncontent-length: *(\d+)/i.exec(raw.slice(0, headEnd))?.[1] ?? 0);
        if (raw.length - headEnd - 4 < length) return;
        stage = 'waiting for the server to close';
        socket.end();
      });
      socket.on('close', (hadError) => {
        clearTimeout(timer);
        if (!hadError && stage === 'waiting for the server to close') resolve(parseResponse(raw));
        else if (!hadError) reject(new Error(`closed while ${stage}; got: ${JSON.stringify(raw.slice(0, 300))}`));
      });
    });
  });
}

export function upgradeRequest(path: string, extraHeaders: readonly string[] = [], overrides: Readonly<Record<string, string>> = {}): string {
  const headers: Record<string, string> = {
    Host: 'localhost',
    Upgrade: 'websocket',
    Connection: 'Upgrade',
    'Sec-WebSocket-Key': 'dGhlIHNhbXBsZSBub25jZQ==',
    'Sec-WebSocket-Version': '13',
    ...overrides,
  };
  const lines = [`GET ${path} HTTP/1.1`];
  for (const [name, value] of Object.entries(headers)) if (value !== '') lines.push(`${name}: ${value}`);
  return [...lines, ...extraHeaders, '', ''].join('\r\n');
}
