/*
 * The tunnel client's WebSocket (RFC 6455 client side, binary messages only), in place of `ws`.
 * Profiles of `forward -L` showed the client spending a third of its CPU in V8's full
 * collections and in page faults: `ws` allocates a masked copy of every frame it sends and a
 * fresh buffer for every message split across two socket reads, about two 64 KiB buffers per
 * data frame. Here every frame is masked straight into a recycled staging buffer, the frames of
 * one event-loop turn go out as one write, and a message split across reads is gathered in one
 * reusable buffer; over ws:// the socket reads into the process's shared read buffer
 * (shared-read.ts), so a message is handed over as borrowed and the stream copies it into a
 * pooled buffer. Each frame gets a fresh random mask key (§5.3), drawn from a random pool.
 *
 * The opening handshake is node:http's upgrade (so wss:// and the Authorization of a URL's
 * user info work as before); the server's 101 must carry the right Sec-WebSocket-Accept and
 * the one subprotocol offered. What a tunnel server never sends is refused as a protocol error:
 * text and fragmented messages, masked frames, messages over `maxPayload`. Every callback from
 * node:http and the socket runs behind the guard, owned by the caller's handler.
 */
import { createHash, randomBytes, randomFillSync } from 'node:crypto';
import { request as httpRequest, type ClientRequest, type IncomingMessage, type RequestOptions } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { createRequire } from 'node:module';
import type { Duplex } from 'node:stream';
import { guarded, type Guarded } from '../lib/guard.js';
import { verifiedConnection, type UpstreamTls } from '../lib/tls-upstream.js';
import { connectSharedRead } from './shared-read.js';

const GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';

const enum Opcode {
  continuation = 0x0,
  text = 0x1,
  binary = 0x2,
  close = 0x8,
  ping = 0x9,
  pong = 0xa,
}

/** What the socket reports; nothing more once `closed` was called. */
export interface TunnelWebSocketEvents extends Guarded {
  /** The 101 was right; `protocol` is the subprotocol the server chose. */
  opened(protocol: string): void;
  /** `owned` is false when `data` is valid only during the call. */
  message(data: Buffer, owned: boolean): void;
  /** The server answered the upgrade with something other than 101. */
  unexpectedResponse(status: number, statusText: string): void;
  /** The connection failed or was closed; `reason` says how. */
  closed(reason: string): void;
}

type Masker = (source: Buffer, mask: Buffer, output: Buffer, offset: number, length: number) => void;

function maskInJs(source: Buffer, mask: Buffer, output: Buffer, offset: number, length: number): void {
  for (let i = 0; i < length; i++) output[offset + i] = (source[i] as number) ^ (mask[i & 3] as number);
}

/** bufferutil's native masker when it loads (a dependency with prebuilt binaries), else JavaScript. */
function loadMasker(): Masker {
  try {
    const native = createRequire(import.meta.url)('bufferutil') as { mask?: Masker };
    if (typeof native.mask === 'function') return native.mask;
  } catch {
    // Not installed or no binary for this platform: the JavaScript loop is correct, only slower.
  }
  return maskInJs;
}
const applyMask = loadMasker();

/** Mask keys come from a pool refilled 8 KiB at a time: one getrandom per 2 048 frames. */
const randomPool = Buffer.alloc(8192);
let randomUsed = randomPool.length;
function nextMaskKey(into: Buffer, at: number): Buffer {
  if (randomUsed === randomPool.length) {
    randomFillSync(randomPool);
    randomUsed = 0;
  }
  randomPool.copy(into, at, randomUsed, randomUsed + 4);
  randomUsed += 4;
  return into.subarray(at, at + 4);
}

/** Staging buffers: frames of one turn are masked into one, written once, then recycled. */
const STAGING_SIZE = 256 * 1024;
const idleStaging: Buffer[] = [];
const MAX_IDLE_STAGING = 8;

/** Header room: 2 bytes, 8 of extended length, 4 of mask key. */
const MAX_HEADER = 14;

export class TunnelWebSocket {
  private readonly request: ClientRequest;
  private socket: Duplex | null = null;
  private over = false;
  // sending
  private staging: Buffer | null = null;
  private staged = 0;
  private flushScheduled = false;
  private readonly flush: () => void;
  /** Staging buffers being written, in order: each goes back to the pool once written. */
  private readonly writing: Buffer[] = [];
  private readonly written: (error?: Error | null) => void;
  // receiving
  private readonly header = Buffer.alloc(MAX_HEADER);
  private headerHave = 0;
  /** Bytes of the current frame's payload still to come; -1 while reading a header. */
  private payloadLeft = -1;
  private opcode = 0;
  private gather: Buffer = Buffer.alloc(0);
  private gathered = 0;
  private payloadLength = 0;
  /** ws:// reads into the process's shared read buffer: its chunks are valid only during the call. */
  private readonly transientReads: boolean;

  constructor(
    url: string,
    protocol: string,
    handshakeTimeoutMs: number,
    private readonly maxPayload: number,
    tls: UpstreamTls,
    private readonly events: TunnelWebSocketEvents,
  ) {
    this.flush = guarded(events, 'tunnel flush', () => this.flushStaging());
    this.written = guarded(events, 'tunnel write', (error?: Error | null) => {
      const staging = this.writing.shift();
      // On an error the socket may not be done with the bytes: the GC takes the buffer.
      if (staging !== undefined && (error === undefined || error === null) && staging.length === STAGING_SIZE && idleStaging.length < MAX_IDLE_STAGING) idleStaging.push(staging);
    });
    const target = new URL(url);
    const secure = target.protocol === 'wss:';
    const key = randomBytes(16).toString('base64');
    const host = target.hostname.replace(/^\[(.*)\]$/, '$1');
    const port = target.port === '' ? (secure ? 443 : 80) : Number(target.port);
    this.transientReads = !secure;
    const options: RequestOptions = {
      host,
      port,
      path: target.pathname + target.search,
      headers: {
        Connection: 'Upgrade',
        Upgrade: 'websocket',
        'Sec-WebSocket-Version': '13',
        'Sec-WebSocket-Key': key,
        'Sec-WebSocket-Protocol': protocol,
      },
      // As `ws` did: a URL's user info goes as Basic authorization.
      ...(target.username !== '' || target.password !== '' ? { auth: `${decodeURIComponent(target.username)}:${decodeURIComponent(target.password)}` } : {}),
      createConnection: secure ? (verifiedConnection(tls) as unknown as RequestOptions['createConnection']) : () => connectSharedRead({ host, port }),
    };
    const request = (secure ? httpsRequest : httpRequest)(options);
    this.request = request;
    request.setTimeout(handshakeTimeoutMs, guarded(events, 'tunnel handshake timeout', () => this.fail('opening handshake timed out')));
    request.on('error', guarded(events, 'tunnel request error', (error: Error) => this.fail(error.message)));
    request.on('response', guarded(events, 'tunnel answer', (response: IncomingMessage) => {
      response.resume();
      if (this.over) return;
      this.over = true;
      request.destroy();
      events.unexpectedResponse(response.statusCode ?? 0, response.statusMessage ?? '');
    }));
    request.on('upgrade', guarded(events, 'tunnel upgrade', (response: IncomingMessage, socket: Duplex, head: Buffer) => {
      this.onUpgrade(response, socket, head, key, protocol);
    }));
    request.end();
  }

  private onUpgrade(response: IncomingMessage, socket: Duplex, head: Buffer, key: string, offered: string): void {
    this.request.setTimeout(0);
    if (this.over) {
      socket.destroy();
      return;
    }
    this.socket = socket;
    if ('setNoDelay' in socket && typeof socket.setNoDelay === 'function') socket.setNoDelay(true);
    const expected = createHash('sha1').update(key + GUID).digest('base64');
    const chosen = response.headers['sec-websocket-protocol'];
    if (String(response.headers.upgrade).toLowerCase() !== 'websocket') return this.fail('the server answered 101 without "Upgrade: websocket"');
    if (response.headers['sec-websocket-accept'] !== expected) return this.fail('the server answered 101 with a wrong Sec-WebSocket-Accept');
    socket.on('data', guarded(this.events, 'tunnel data', (chunk: Buffer) => this.onData(chunk)));
    socket.on('error', guarded(this.events, 'tunnel socket error', (error: Error) => this.fail(error.message)));
    socket.on('close', guarded(this.events, 'tunnel socket close', () => this.fail('connection closed (1006)')));
    this.events.opened(typeof chosen === 'string' ? chosen : '');
    if (this.over || chosen !== offered) return;
    if (head.length > 0) this.onData(head);
  }

  /** Reports the end once and drops the connection at once (no close handshake: it may be dead). */
  private fail(reason: string): void {
    if (this.over) return;
    this.terminate();
    this.events.closed(reason);
  }

  /** Drops the connection; nothing more is reported. */
  terminate(): void {
    this.over = true;
    this.request.destroy();
    this.socket?.destroy();
    this.staging = null;
  }

  // ---- sending ----

  /** Sends one binary message; frames of this turn go out together. */
  send(data: Buffer): void {
    this.sendFrame(Opcode.binary, data);
  }

  private sendFrame(opcode: Opcode, data: Buffer): void {
    if (this.over || this.socket === null) return;
    const length = data.length;
    if (this.staging !== null && this.staged + MAX_HEADER + length > this.staging.length) this.flushStaging();
    if (this.staging === null) {
      this.staging = length + MAX_HEADER <= STAGING_SIZE ? (idleStaging.pop() ?? Buffer.allocUnsafeSlow(STAGING_SIZE)) : Buffer.allocUnsafe(length + MAX_HEADER);
      this.staged = 0;
    }
    const out = this.staging;
    let at = this.staged;
    out[at++] = 0x80 | opcode;
    if (length < 126) {
      out[at++] = 0x80 | length;
    } else if (length < 65536) {
      out[at++] = 0x80 | 126;
      out.writeUInt16BE(length, at);
      at += 2;
    } else {
      out[at++] = 0x80 | 127;
      out.writeUInt32BE(0, at);
      out.writeUInt32BE(length, at + 4);
      at += 8;
    }
    const mask = nextMaskKey(out, at);
    at += 4;
    if (length > 0) applyMask(data, mask, out, at, length);
    this.staged = at + length;
    if (!this.flushScheduled) {
      this.flushScheduled = true;
      setImmediate(this.flush);
    }
  }

  private flushStaging(): void {
    this.flushScheduled = false;
    const staging = this.staging;
    if (staging === null || this.socket === null || this.over) return;
    this.staging = null;
    this.writing.push(staging);
    this.socket.write(staging.subarray(0, this.staged), this.written);
  }

  // ---- receiving ----

  private onData(chunk: Buffer): void {
    let at = 0;
    while (at < chunk.length && !this.over) {
      if (this.payloadLeft < 0) {
        at = this.readHeader(chunk, at);
        continue;
      }
      const take = Math.min(this.payloadLeft, chunk.length - at);
      if (this.gathered === 0 && take === this.payloadLength) {
        // The whole payload is in this read: hand it over as it is.
        this.payloadLeft = -1;
        this.deliver(chunk.subarray(at, at + take), !this.transientReads);
      } else {
        chunk.copy(this.gather, this.gathered, at, at + take);
        this.gathered += take;
        this.payloadLeft -= take;
        if (this.payloadLeft === 0) {
          this.payloadLeft = -1;
          const whole = this.gather.subarray(0, this.gathered);
          this.gathered = 0;
          this.deliver(whole, false);
        }
      }
      at += take;
    }
  }

  /** Reads header bytes from `chunk` at `at`; returns where it stopped. */
  private readHeader(chunk: Buffer, at: number): number {
    while (at < chunk.length) {
      this.header[this.headerHave++] = chunk[at++] as number;
      const need = this.headerNeeds();
      if (need === -1) return chunk.length;
      if (this.headerHave < need) continue;
      this.headerHave = 0;
      this.startPayload();
      return at;
    }
    return at;
  }

  /** How long the header being read is, once its second byte is in; -1 after a protocol error. */
  private headerNeeds(): number {
    if (this.headerHave < 2) return 2;
    const first = this.header[0] as number;
    const second = this.header[1] as number;
    if ((second & 0x80) !== 0) return this.protocolError('the server masked a frame');
    if ((first & 0x70) !== 0) return this.protocolError('a frame with reserved bits set');
    const length = second & 0x7f;
    return length === 126 ? 4 : length === 127 ? 10 : 2;
  }

  private startPayload(): void {
    const first = this.header[0] as number;
    const code = (this.header[1] as number) & 0x7f;
    const length = code === 126 ? this.header.readUInt16BE(2) : code === 127 ? this.header.readUInt32BE(2) * 2 ** 32 + this.header.readUInt32BE(6) : code;
    const opcode = first & 0x0f;
    const control = opcode >= Opcode.close;
    if ((first & 0x80) === 0 || opcode === Opcode.continuation) {
      this.protocolError('a fragmented message (a tunnel server sends whole messages)');
      return;
    }
    if (opcode === Opcode.text) {
      this.protocolError('a text message (the tunnel is binary)');
      return;
    }
    if (opcode !== Opcode.binary && !control) {
      this.protocolError(`a frame of unknown opcode ${opcode}`);
      return;
    }
    if (control ? length > 125 : length > this.maxPayload) {
      this.protocolError(`a message of ${length} bytes, more than the ${control ? 125 : this.maxPayload} allowed`);
      return;
    }
    this.opcode = opcode;
    this.payloadLength = length;
    this.payloadLeft = length;
    if (this.gather.length < length) this.gather = Buffer.allocUnsafe(Math.max(length, Math.min(this.maxPayload, 2 * this.gather.length)));
    if (length === 0) {
      this.payloadLeft = -1;
      this.deliver(Buffer.alloc(0), true);
    }
  }

  private deliver(payload: Buffer, owned: boolean): void {
    switch (this.opcode) {
      case Opcode.binary:
        this.events.message(payload, owned);
        return;
      case Opcode.ping:
        this.sendFrame(Opcode.pong, Buffer.from(payload));
        return;
      case Opcode.pong:
        return;
      case Opcode.close: {
        const code = payload.length >= 2 ? payload.readUInt16BE(0) : 1005;
        const reason = payload.length > 2 ? payload.subarray(2).toString('utf8') : '';
        // Answer the close and let the server end the TCP connection.
        this.sendFrame(Opcode.close, payload.length >= 2 ? Buffer.from(payload.subarray(0, 2)) : Buffer.alloc(0));
        this.flushStaging();
        this.socket?.end();
        const socket = this.socket;
        this.over = true;
        this.events.closed(`connection closed (${code}${reason === '' ? '' : ` ${reason}`})`);
        setTimeout(guarded(this.events, 'tunnel close wait', () => socket?.destroy()), 1000).unref();
        return;
      }
    }
  }

  private protocolError(why: string): -1 {
    this.fail(`WebSocket protocol error: ${why}`);
    return -1;
  }
}
