/*
 * Peer byte streams for framing tests: random streams with their reference framing, the ways a
 * peer's reads may cut them, and a driver that runs a framing function through the real
 * PeerFramer. Shared by the builtin tests and the C-plugin equivalence tests.
 */
import assert from 'node:assert/strict';
import { isUtf8 } from 'node:buffer';
import { WsOperation, type FramingDefinition } from '../../src/core/api.js';
import { PeerFramer } from '../../src/core/framer.js';
import type { Random } from './random.js';

export const MAX_STREAM = 3000;
export const LIMIT = 1 << 20;

export interface Frame {
  readonly bytes: Buffer;
  readonly opcode: WsOperation;
}

/** What a framer made of a stream: its frames, and the bytes still waiting for a boundary. */
export interface Framed {
  readonly frames: Frame[];
  readonly pending: number;
}

export function feed(framing: FramingDefinition, config: string | null, chunks: readonly Uint8Array[], limit = LIMIT): Framed {
  const frames: Frame[] = [];
  // The sink's data is only valid during the call: keep copies.
  const framer = new PeerFramer(framing, config, limit, {
    sendFrame: (data, opcode) => {
      frames.push({ bytes: Buffer.from(data), opcode });
    },
  });
  for (const chunk of chunks) framer.push(chunk);
  const pending = framer.pendingBytes;
  framer.close();
  return { frames, pending };
}

export function text(...parts: string[]): Frame[] {
  return parts.map((part) => ({ bytes: Buffer.from(part), opcode: WsOperation.text }));
}

export function binary(...parts: (string | Buffer)[]): Frame[] {
  return parts.map((part) => ({ bytes: Buffer.from(part), opcode: WsOperation.binary }));
}

export function feedStrings(framing: FramingDefinition, config: string | null, ...chunks: (string | Buffer)[]): Framed {
  return feed(framing, config, chunks.map((chunk) => Buffer.from(chunk)));
}

export function randomChunks(random: Random, stream: Buffer): Buffer[] {
  const chunks: Buffer[] = [];
  for (let at = 0; at < stream.length; ) {
    const size = random.chance(0.3) ? 1 : random.int(1, random.chance(0.2) ? 700 : 40);
    chunks.push(stream.subarray(at, at + size));
    at += size;
  }
  return chunks;
}

/** `stream` as a peer's reads into a 64 KiB buffer would cut it. */
export function peerReads(stream: Buffer): Buffer[] {
  const reads: Buffer[] = [];
  for (let at = 0; at < stream.length; at += 64 * 1024) reads.push(stream.subarray(at, at + 64 * 1024));
  return reads;
}

export function byteChunks(stream: Buffer): Buffer[] {
  const chunks: Buffer[] = [];
  for (let at = 0; at < stream.length; at++) chunks.push(stream.subarray(at, at + 1));
  return chunks;
}

/** The ways a peer's reads may cut a stream: whole, at random points, byte by byte. */
export function splits(random: Random, stream: Buffer): [string, Buffer[]][] {
  return [
    ['whole', stream.length === 0 ? [] : [stream]],
    ['random splits', randomChunks(random, stream)],
    ['1-byte reads', byteChunks(stream)],
  ];
}

/** A stream made of random picks from `pieces`, with some random bytes mixed in. */
export function pieceStream(random: Random, pieces: readonly Buffer[]): Buffer {
  const target = random.int(0, MAX_STREAM);
  const parts: Buffer[] = [];
  for (let length = 0; length < target; ) {
    const part = random.chance(0.1) ? random.bytes(random.int(1, 8)) : random.pick(pieces);
    parts.push(part);
    length += part.length;
  }
  return Buffer.concat(parts);
}

/** Reference framing by separator: first occurrence, searched from each frame's end. */
export function splitAt(stream: Buffer, separator: Buffer, opcodeOf: (frame: Buffer) => WsOperation): Framed {
  const frames: Frame[] = [];
  let at = 0;
  for (let found = stream.indexOf(separator, at); found >= 0; found = stream.indexOf(separator, at)) {
    const bytes = Buffer.from(stream.subarray(at, found + separator.length));
    frames.push({ bytes, opcode: opcodeOf(bytes) });
    at = found + separator.length;
  }
  return { frames, pending: stream.length - at };
}

export function utf8Opcode(bytes: Uint8Array): WsOperation {
  return isUtf8(bytes) ? WsOperation.text : WsOperation.binary;
}

// ---------------------------------------------------------------------------------------------
// Random JSON, serialised with random blanks and escapes

const BLANKS = [' ', '\t', '\r', '\n'];
const STRING_CHARS = ['a', 'Z', '7', ' ', '"', '\\', '/', '\n', '\t', '\r', '\b', '\f', '\u0001', '\u001f', '\u007f', 'é', 'ü', '€', '中', '😀'];
const SHORT_ESCAPES = new Map([
  ['"', '\\"'],
  ['\\', '\\\\'],
  ['\n', '\\n'],
  ['\t', '\\t'],
  ['\r', '\\r'],
  ['\b', '\\b'],
  ['\f', '\\f'],
]);

function blanks(random: Random, min: number): string {
  let out = '';
  for (let n = random.int(min, 3); n > 0; n--) out += random.pick(BLANKS);
  return out;
}

function unicodeEscapes(random: Random, char: string): string {
  let out = '';
  for (let i = 0; i < char.length; i++) {
    const hex = char.charCodeAt(i).toString(16).padStart(4, '0');
    out += `\\u${random.chance(0.5) ? hex : hex.toUpperCase()}`;
  }
  return out;
}

function jsonString(random: Random): string {
  let out = '"';
  for (let n = random.int(0, 12); n > 0; n--) {
    const char = random.pick(STRING_CHARS);
    const short = SHORT_ESCAPES.get(char);
    if (short !== undefined && random.chance(0.8)) out += short;
    else if (char === '"' || char === '\\' || char < ' ' || random.chance(0.2)) out += unicodeEscapes(random, char);
    else if (char === '/' && random.chance(0.5)) out += '\\/';
    else out += char;
  }
  return `${out}"`;
}

function digits(random: Random, min: number, max: number): string {
  let out = '';
  for (let n = random.int(min, max); n > 0; n--) out += String(random.int(0, 9));
  return out;
}

function jsonNumber(random: Random): string {
  let out = random.chance(0.3) ? '-' : '';
  out += random.chance(0.2) ? '0' : String(random.int(1, 9)) + digits(random, 0, 5);
  if (random.chance(0.3)) out += `.${digits(random, 1, 4)}`;
  if (random.chance(0.2)) out += random.pick(['e', 'E']) + random.pick(['', '+', '-']) + digits(random, 1, 3);
  return out;
}

function jsonValue(random: Random, depth: number): string {
  const kind = random.int(0, depth >= 4 ? 2 : 4);
  if (kind === 0) return jsonNumber(random);
  if (kind === 1) return jsonString(random);
  if (kind === 2) return random.pick(['true', 'false', 'null']);
  const items: string[] = [];
  for (let n = random.int(0, 4); n > 0; n--) {
    const value = jsonValue(random, depth + 1);
    items.push(kind === 3 ? value : `${jsonString(random)}${blanks(random, 0)}:${blanks(random, 0)}${value}`);
  }
  const [open, close] = kind === 3 ? ['[', ']'] : ['{', '}'];
  return `${open}${blanks(random, 0)}${items.join(`${blanks(random, 0)},${blanks(random, 0)}`)}${blanks(random, 0)}${close}`;
}

/** Top-level values, each with the blanks before it; a trailing newline ends a last number. */
export function jsonSample(random: Random): { stream: Buffer; expected: Framed } {
  const target = random.int(0, MAX_STREAM);
  const pieces: string[] = [];
  let afterNumber = false;
  for (let length = 0; length < target; ) {
    const value = jsonValue(random, 0);
    // A number is only complete at the next byte, so numbers need a blank between them.
    const piece = blanks(random, afterNumber ? 1 : 0) + value;
    assert.doesNotThrow(() => JSON.parse(piece), `generator made invalid JSON ${piece}`);
    pieces.push(piece);
    length += Buffer.byteLength(piece);
    afterNumber = /[0-9]$/.test(value);
  }
  return { stream: Buffer.from(`${pieces.join('')}\n`), expected: { frames: text(...pieces), pending: 1 } };
}

/** Random bytes, and their reference framing into `length`-byte messages. */
export function fixedlengthSample(random: Random, length: number): { stream: Buffer; expected: Framed } {
  const stream = random.bytes(random.int(0, MAX_STREAM));
  const frames: Frame[] = [];
  for (let at = 0; at + length <= stream.length; at += length) frames.push(...binary(stream.subarray(at, at + length)));
  return { stream, expected: { frames, pending: stream.length % length } };
}

/** dynamic32 messages with that layout, the last one cut short, and their reference framing. */
export function dynamic32Sample(random: Random, offset: number, extra: number, bigEndian: boolean): { stream: Buffer; expected: Framed } {
  const message = (): Buffer => {
    // The field may not make the message shorter than its header.
    const field = random.int(Math.max(0, -extra), Math.max(0, -extra) + 40);
    const header = Buffer.alloc(4);
    if (bigEndian) header.writeUInt32BE(field);
    else header.writeUInt32LE(field);
    return Buffer.concat([random.bytes(offset), header, random.bytes(extra + field)]);
  };
  const target = random.int(0, MAX_STREAM);
  const messages: Buffer[] = [];
  for (let length = 0; length < target; ) {
    const next = message();
    messages.push(next);
    length += next.length;
  }
  const unfinished = message();
  const tail = unfinished.subarray(0, random.int(0, unfinished.length - 1));
  return { stream: Buffer.concat([...messages, tail]), expected: { frames: binary(...messages), pending: tail.length } };
}
