/*
 * The one send and backpressure policy for every WebSocket websocksy writes to: bridge clients,
 * websocket-route clients and tunnel transports.
 *
 * - A producer that can be paused (a peer socket, an upstream WebSocket, a tunnel stream through
 *   its credit) is paused once more than `highWater` bytes wait for the client, and resumed
 *   when the client's buffer has drained to half of it.
 * - uWS's maxBackpressure sits above everything that may still arrive after the pause (one more
 *   read or message, plus a margin), so uWS never has to drop a message. If it does (send()
 *   returns 2), that is a bug in those margins, never silent: SendOverflowError closes the
 *   connection with 1011 and the log says so.
 * - A receiver that stops reading while its sender cannot be paused (uWS 20.30 cannot pause a
 *   WebSocket) gets a bounded queue, then the connection closes with 1013 Try Again Later and a
 *   reason naming who stopped reading. 1009 is only ever "message too big".
 * - Where the engine loses the payload of a long message that the kernel took only the header
 *   of (uWS 20.30; Engine.dropsShortLongSends, docs/engine.md), long messages are kept off the
 *   engine's shortcut that does so.
 */
import { WsCloseCode } from './api.js';

/** uWS send(): 0 sent but queued over maxBackpressure's warning, 1 sent, 2 dropped. */
const SEND_DROPPED = 2;

/** The largest peer read (peer-stream.ts READ_BUFFER); datagrams are at most 64 KiB too. */
export const LARGEST_PEER_READ = 64 * 1024;

/** Room for what a paused producer may still deliver beyond its last send (reads in flight). */
const PAUSE_MARGIN = 256 * 1024;

/** uWS keeps maxBackpressure in an unsigned 32-bit field; stay well inside it. */
const UWS_SIZE_LIMIT = 2 ** 31 - 1;

/**
 * uWS writes a message this long, with nothing queued before it, straight to the socket: header
 * and payload in one writev, the payload not copied.
 */
const LONG_SEND = 16 * 1024;

/**
 * True on an engine whose long-send shortcut drops the payload when that writev takes no more
 * than the frame header (uWS 20.30, fixed upstream by uNetworking/uWebSockets#1662): the
 * client then reads the next frame's header as this one's payload. A nearly full socket does
 * that now and then under load (test/long-sends.test.ts makes it happen on cue).
 */
let shortcutDropsPayloads = false;

/**
 * Set once by the front when it has chosen the engine. Off the shortcut a long message takes
 * uWS's ordinary path: copied once into the socket's buffer, then written, in order.
 */
export function avoidLongSendShortcut(avoid: boolean): void {
  shortcutDropsPayloads = avoid;
}

export interface MessageSocket {
  /**
   * `compress` is only a hint: compression is never negotiated (ws-behaviour.ts), so uWS sends
   * the message uncompressed either way, but the hint alone keeps it off the long-send shortcut.
   */
  send(message: Uint8Array, isBinary: boolean, compress?: boolean): number;
  getBufferedAmount(): number;
}

export class SendOverflowError extends Error {
  constructor(readonly queued: number) {
    super(`send buffer overflowed with ${queued} bytes queued`);
    this.name = 'SendOverflowError';
  }
}

/** maxBackpressure for a socket whose producers pause above `highWater` and whose largest send is `largestSend`. */
export function maxBackpressureFor(highWater: number, largestSend: number): number {
  return Math.min(UWS_SIZE_LIMIT, highWater + largestSend + PAUSE_MARGIN);
}

/** Sends one message; throws SendOverflowError when uWS dropped it. */
export function sendMessage(ws: MessageSocket, message: Uint8Array, isBinary: boolean): void {
  const offShortcut = shortcutDropsPayloads && message.length >= LONG_SEND;
  if (ws.send(message, isBinary, offShortcut) === SEND_DROPPED) throw new SendOverflowError(ws.getBufferedAmount());
}

/** True when producers for this socket should pause. */
export function aboveHighWater(buffered: number, highWater: number): boolean {
  return buffered > highWater;
}

/** True when paused producers may go on. */
export function drainedBelowLowWater(buffered: number, highWater: number): boolean {
  return buffered <= highWater / 2;
}

export interface CloseDecision {
  readonly code: number;
  readonly reason: string;
}

/** The close for a receiver (`who`: peer, upstream, client) that stopped reading. */
export function notReading(who: string, queued: number, limit: number): CloseDecision {
  return { code: WsCloseCode.tryAgainLater, reason: `${who} is not reading: ${queued} bytes queued, limit ${limit}` };
}

/** The close after uWS dropped a message (SendOverflowError). */
export function overflowed(error: SendOverflowError): CloseDecision {
  return { code: WsCloseCode.unexpected, reason: `internal error: ${error.message}` };
}
