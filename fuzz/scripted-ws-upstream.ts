/*
 * The upstream the `wsupstream` class attacks websocksy from: a WebSocket server on node:net
 * that reads websocksy's upgrade request and answers it as its case scripted it, byte by byte:
 * a good 101 or a broken one, then frames good and bad, then an ending (a close frame, a FIN,
 * a reset, or silence). A case registers its script under a token before its client upgrades,
 * and the token is the last segment of the request's path; an upgrade nobody scripted gets a 404.
 * What websocksy sends it is checked, as oracles of its own: the request's path is under the
 * route's base and its handshake well-formed; every frame is masked (RFC 6455 §5.1), without
 * reserved bits, of a known opcode, and none follows websocksy's close frame. What it read of
 * each scripted connection (messages, pongs, the close frame) is kept for the case.
 */
import type { AddressInfo, Socket } from 'node:net';
import { resetConnection } from '../src/lib/reset-connection.js';
import { streamServer } from '../test/helpers/peers.js';
import { delay } from './raw-connection.js';
import { ANSWER_MS, HOLD_MS, type Step } from './scripted-upstream.js';
import { MessageJoiner, Opcode, ServerFrameReader, type ServerFrame, type WsMessage } from './ws-frame.js';

export interface WsUpstreamScript {
  /** What the upstream writes for websocksy's Sec-WebSocket-Key (a 101 answers it). */
  readonly steps: (key: string) => readonly Step[];
  /**
   * After the steps: `close` waits for websocksy's answer to the close frame the steps ended
   * with, then ends; `end` and `reset` close at once; `hold` keeps the connection silent.
   * Whatever it is, the connection is dropped HOLD_MS later at the latest.
   */
  readonly then: 'close' | 'end' | 'reset' | 'hold';
}

/** The path segment the upstream sees before a case's token (the route's base). */
export const WS_SCRIPTED_BASE = '/w';
/** A request head longer than this is not websocksy's. */
const MAX_HEAD = 64 * 1024;
const KNOWN_OPCODES: readonly number[] = Object.values(Opcode);
const UNSCRIPTED = Buffer.from('HTTP/1.1 404 Not Found\r\nContent-Length: 10\r\nConnection: close\r\n\r\nunscripted');

/** What the upstream read on one scripted connection, for its case. */
export class UpstreamSight {
  /** Upgrade requests that came for the token (one client upgrade must make exactly one). */
  requests = 0;
  /** websocksy's messages, in order (its client's relayed ones). */
  readonly messages: WsMessage[] = [];
  pongs = 0;
  /** The payload of websocksy's close frame, once it came. */
  closeFrame: Buffer | null = null;
  private over: () => void = () => {};
  /** Settles once websocksy's close frame came or the connection is gone. */
  private readonly settled = new Promise<void>((resolve) => {
    this.over = resolve;
  });

  closedBy(payload: Buffer): void {
    this.closeFrame = payload;
    this.over();
  }

  gone(): void {
    this.over();
  }

  /** Resolves true once websocksy's close frame came or the connection is gone; false after `timeoutMs`. */
  closed(timeoutMs: number): Promise<boolean> {
    return Promise.race([this.settled.then(() => true), delay(timeoutMs).then(() => false)]);
  }
}

interface Scripted {
  readonly script: WsUpstreamScript;
  readonly sight: UpstreamSight;
}

export class ScriptedWsUpstream {
  private readonly scripts = new Map<string, Scripted>();

  private constructor(
    readonly port: number,
    private readonly found: (finding: string) => void,
    /** Cuts every connection and stops listening. */
    readonly close: () => Promise<void>,
  ) {}

  static async start(found: (finding: string) => void): Promise<ScriptedWsUpstream> {
    // Nothing connects before the port is known, which is once the upstream exists.
    let upstream: ScriptedWsUpstream | null = null;
    const server = await streamServer((socket) => upstream?.serve(socket));
    upstream = new ScriptedWsUpstream((server.server.address() as AddressInfo).port, found, server.close);
    return upstream;
  }

  /** Registers `script` for the upgrade whose path ends in `token`; what the upstream reads there is kept in the answer. */
  script(token: string, script: WsUpstreamScript): UpstreamSight {
    const sight = new UpstreamSight();
    this.scripts.set(token, { script, sight });
    return sight;
  }

  forget(token: string): void {
    this.scripts.delete(token);
  }

  /** streamServer destroys a connection on its error: websocksy cuts what it gives up on. */
  private serve(socket: Socket): void {
    let head: Buffer = Buffer.alloc(0);
    let frames: FrameCheck | null = null;
    let scripted: Scripted | undefined;
    let unscripted = false;
    socket.on('close', () => scripted?.sight.gone());
    socket.on('data', (chunk: Buffer) => {
      if (frames !== null) {
        frames.push(chunk);
        return;
      }
      if (unscripted) return;
      head = head.length === 0 ? chunk : Buffer.concat([head, chunk]);
      const headEnd = head.indexOf('\r\n\r\n');
      if (headEnd < 0) {
        if (head.length > MAX_HEAD) socket.destroy();
        return;
      }
      const text = head.subarray(0, headEnd).toString('latin1');
      const key = this.checkRequest(text);
      const target = /^\S+ (\S+) /.exec(text)?.[1] ?? '';
      scripted = this.scripts.get(/\/([0-9a-z]+)(?:\?.*)?$/.exec(target)?.[1] ?? '');
      if (scripted === undefined) {
        unscripted = true;
        socket.end(UNSCRIPTED);
        return;
      }
      scripted.sight.requests++;
      frames = new FrameCheck(scripted.sight, (problem) => this.found(`the scripted WebSocket upstream, ${target}: ${problem}`));
      frames.push(head.subarray(headEnd + 4));
      void this.play(socket, scripted, key);
    });
  }

  /** Checks websocksy's upgrade request; returns its key. */
  private checkRequest(head: string): string {
    const shown = JSON.stringify(head.slice(0, 300));
    const header = (name: string): string | undefined => new RegExp(`\\r\\n${name}: *([^\\r]*)`, 'i').exec(head)?.[1]?.trim();
    const target = /^GET (\S+) HTTP\/1\.1(?:\r|$)/.exec(head)?.[1];
    if (target === undefined || !target.startsWith(`${WS_SCRIPTED_BASE}/`)) this.found(`the scripted WebSocket upstream got ${shown}, not a GET under the route's base path ${WS_SCRIPTED_BASE}`);
    const key = header('sec-websocket-key') ?? '';
    const problems = [
      header('upgrade')?.toLowerCase() === 'websocket' ? null : 'no "Upgrade: websocket"',
      /(^|,)\s*upgrade\s*(,|$)/i.test(header('connection') ?? '') ? null : 'no "Connection: Upgrade"',
      header('sec-websocket-version') === '13' ? null : 'no "Sec-WebSocket-Version: 13"',
      /^[A-Za-z0-9+/]{22}==$/.test(key) ? null : 'a Sec-WebSocket-Key that is not 16 bytes in base64',
    ].filter((problem) => problem !== null);
    if (problems.length > 0) this.found(`the scripted WebSocket upstream got an upgrade request with ${problems.join(', ')}: ${shown}`);
    return key;
  }

  private async play(socket: Socket, { script, sight }: Scripted, key: string): Promise<void> {
    for (const step of script.steps(key)) {
      if (socket.destroyed) return;
      if (typeof step === 'number') await delay(step);
      else socket.write(step);
    }
    if (socket.destroyed) return;
    // Past the time a case waits for its answer, so that a websocksy that never gives up is
    // seen to hang; then it goes, so that the fuzzer does not pile up connections of its own.
    setTimeout(() => socket.destroy(), HOLD_MS).unref();
    if (script.then === 'reset') resetConnection(socket);
    else if (script.then === 'end') socket.end();
    else if (script.then === 'close') {
      if (!(await sight.closed(ANSWER_MS))) this.found(`the scripted WebSocket upstream sent a close frame and websocksy neither answered it nor closed within ${ANSWER_MS} ms`);
      socket.end();
    }
  }

}

/** Reads websocksy's frames on one connection and checks each as RFC 6455 asks of a client. */
class FrameCheck {
  /** Messages up to this size are kept whole (the client's are smaller). */
  private readonly reader = new ServerFrameReader(1024 * 1024, true);
  private readonly joiner = new MessageJoiner();
  private reported = false;

  constructor(
    private readonly sight: UpstreamSight,
    private readonly found: (problem: string) => void,
  ) {}

  push(chunk: Buffer): void {
    if (chunk.length === 0) return;
    for (const frame of this.reader.push(chunk)) this.check(frame);
    if (this.reader.malformed !== null) this.report(this.reader.malformed);
  }

  private check(frame: ServerFrame): void {
    if (this.sight.closeFrame !== null) return this.report(`a frame of opcode ${frame.opcode} after websocksy's close frame`);
    if (frame.rsv !== 0) return this.report(`a frame with reserved bits ${frame.rsv} (no extension was negotiated)`);
    if (!KNOWN_OPCODES.includes(frame.opcode)) return this.report(`a frame of unknown opcode ${frame.opcode}`);
    if (frame.opcode === Opcode.pong) this.sight.pongs++;
    if (frame.opcode === Opcode.close) this.sight.closedBy(frame.payload);
    const message = this.joiner.push(frame);
    if (message !== null) this.sight.messages.push(message);
  }

  /** One report per connection: after the first fault, what follows is noise. */
  private report(problem: string): void {
    if (this.reported) return;
    this.reported = true;
    this.found(`websocksy's client sent ${problem}`);
  }
}
