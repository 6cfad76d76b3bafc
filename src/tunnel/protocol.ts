/*
 * The tunnel's wire format: one WebSocket binary message is one frame. Byte 0 is the frame type,
 * bytes 1..4 the stream id (big-endian), the rest depends on the type. Data frames are a 5-byte
 * header and the payload; everything rare (handshake, listen requests, open targets) is JSON,
 * so the codec stays small and the hot path allocates one buffer per data frame.
 * docs/tunnel-protocol.md is the reference for this file.
 */

export const PROTOCOL_VERSION = 1;

/**
 * The WebSocket subprotocol of tunnel connections. A client offers it and sends its hello (with
 * its token) only when the server's 101 echoes it: any other WebSocket endpoint — the bridge at
 * a mistyped path, a proxy's — never sees a credential. The front refuses it on every path but
 * the tunnel's.
 */
export const TUNNEL_SUBPROTOCOL = 'websocksy.tunnel.v1';

/**
 * What a client understands beyond version 1, announced in its hello's `features`. A version-1
 * client fails its transport on a control message it does not know, so the server sends
 * `goaway` only to a client that named it.
 */
export const FEATURE_GOAWAY = 'goaway';
export const CLIENT_FEATURES: readonly string[] = [FEATURE_GOAWAY];

/**
 * A goaway'd session's REJECT of an OPEN that crossed the goaway, word for word: the client opens
 * that stream again on its new session. Safe, as nothing flowed on it: data waits for ACCEPT.
 */
export const GOAWAY_REJECT_REASON = 'the server is going away: open the stream on a new connection';

export const enum FrameType {
  data = 1,
  credit = 2,
  fin = 3,
  reset = 4,
  open = 5,
  accept = 6,
  reject = 7,
  ping = 8,
  pong = 9,
  control = 10,
}

export const HEADER_SIZE = 5;

/**
 * The largest WebSocket message either side accepts. A data frame stays far below it; the
 * largest control messages are a hello and a welcome that resume a session, which list every
 * stream (at most 2 048, well under 200 KiB of JSON).
 */
export const MAX_FRAME = 1024 * 1024;

/** The largest payload of one data frame: a socket read at most; larger chunks are split. */
export const MAX_DATA_PAYLOAD = 64 * 1024;

export class ProtocolError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ProtocolError';
  }
}

/** A decoded frame; `body` is a view into the message (copy it if it must outlive the callback). */
export interface Frame {
  readonly type: FrameType;
  readonly stream: number;
  readonly body: Buffer;
}

export function decodeFrame(message: Buffer): Frame {
  if (message.length < HEADER_SIZE) throw new ProtocolError(`frame of ${message.length} bytes is shorter than its ${HEADER_SIZE}-byte header`);
  const type = message[0] as number;
  if (type < FrameType.data || type > FrameType.control) throw new ProtocolError(`unknown frame type ${type}`);
  return { type, stream: message.readUInt32BE(1), body: message.subarray(HEADER_SIZE) };
}

function header(type: FrameType, stream: number, bodyLength: number): Buffer {
  const frame = Buffer.allocUnsafe(HEADER_SIZE + bodyLength);
  frame[0] = type;
  frame.writeUInt32BE(stream, 1);
  return frame;
}

/** A data frame: one allocation, the payload copied once behind the header. */
export function encodeData(stream: number, payload: Buffer, start = 0, end = payload.length): Buffer {
  const frame = header(FrameType.data, stream, end - start);
  payload.copy(frame, HEADER_SIZE, start, end);
  return frame;
}

/** A data frame written at the start of `into` (large enough); returns the frame's view of it. */
export function encodeDataInto(into: Buffer, stream: number, payload: Buffer, start: number, end: number): Buffer {
  into[0] = FrameType.data;
  into.writeUInt32BE(stream, 1);
  payload.copy(into, HEADER_SIZE, start, end);
  return into.subarray(0, HEADER_SIZE + end - start);
}

/** Sequence counts are 48-bit (256 TiB per stream and direction), exact in a JS number. */
export function encodeCredit(stream: number, consumed: number): Buffer {
  const frame = header(FrameType.credit, stream, 6);
  frame.writeUIntBE(consumed, HEADER_SIZE, 6);
  return frame;
}

export function decodeCredit(body: Buffer): number {
  if (body.length !== 6) throw new ProtocolError(`credit frame body of ${body.length} bytes, expected 6`);
  return body.readUIntBE(0, 6);
}

export function encodeEmpty(type: FrameType, stream: number): Buffer {
  return header(type, stream, 0);
}

export function encodeText(type: FrameType, stream: number, text: string): Buffer {
  const body = Buffer.from(text, 'utf8');
  const frame = header(type, stream, body.length);
  body.copy(frame, HEADER_SIZE);
  return frame;
}

export function encodeJson(type: FrameType, stream: number, value: unknown): Buffer {
  return encodeText(type, stream, JSON.stringify(value));
}

export function decodeJson(body: Buffer): unknown {
  try {
    return JSON.parse(body.toString('utf8')) as unknown;
  } catch (error) {
    throw new ProtocolError(`malformed JSON in a frame: ${(error as Error).message}`);
  }
}

/** What one side reports per stream when a session resumes. */
export interface StreamResumeState {
  readonly id: number;
  /** Sequence units (bytes, plus one for a FIN) received from the other side. */
  readonly received: number;
  /** Of those, how many were written out (the credit acknowledgement). */
  readonly consumed: number;
}

export interface ResumeState {
  readonly streams: readonly StreamResumeState[];
  /** The highest stream id opened by the other side that this side has seen. */
  readonly seen: number;
}

/** Control messages: the handshake, remote-listen requests, and a draining server's goaway. */
export type ControlMessage =
  | {
      readonly type: 'hello'; readonly version: number; readonly name: string; readonly token: string; readonly features?: readonly string[];
      readonly resume?: { readonly id: string; readonly secret: string; readonly state: ResumeState };
    }
  | { readonly type: 'welcome'; readonly session: string; readonly secret: string; readonly resumed: boolean; readonly graceSeconds: number; readonly window: number; readonly heartbeatMs: number; readonly timeoutMs: number; readonly state?: ResumeState }
  | { readonly type: 'refuse'; readonly reason: string }
  | { readonly type: 'listen'; readonly listener: number; readonly bind: string; readonly port: number }
  | { readonly type: 'listen-ok'; readonly listener: number; readonly port: number }
  | { readonly type: 'listen-fail'; readonly listener: number; readonly reason: string }
  | { readonly type: 'goaway' };

/** What an OPEN frame asks for: a connection to host:port, or one accepted on a remote listener. */
export type OpenTarget = { readonly host: string; readonly port: number } | { readonly listener: number };

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

export function decodeControl(body: Buffer): ControlMessage {
  const value = decodeJson(body);
  if (!isRecord(value) || typeof value['type'] !== 'string') throw new ProtocolError('control message without a type');
  // Fields are checked where they are used; here only the shape that every reader relies on.
  return value as unknown as ControlMessage;
}

export function decodeOpen(body: Buffer): OpenTarget {
  const value = decodeJson(body);
  if (isRecord(value)) {
    if (typeof value['listener'] === 'number') return { listener: value['listener'] };
    if (typeof value['host'] === 'string' && typeof value['port'] === 'number') return { host: value['host'], port: value['port'] };
  }
  throw new ProtocolError('open frame names neither host and port nor a listener');
}

/** Whether a hello (a client's JSON: `features` may be anything) names `feature`. */
export function helloAnnounces(hello: Extract<ControlMessage, { type: 'hello' }>, feature: string): boolean {
  const features: unknown = hello.features;
  return Array.isArray(features) && features.includes(feature);
}

const isStreamId = (value: unknown): value is number => Number.isInteger(value) && (value as number) >= 0 && (value as number) <= 0xffff_ffff;
const isCount = (value: unknown): value is number => Number.isSafeInteger(value) && (value as number) >= 0;

/** A stream state the other side sent: ids as frames carry them, counts whole and never negative, no more consumed than received. */
export function isResumeState(value: unknown): value is ResumeState {
  if (!isRecord(value) || !isStreamId(value['seen']) || !Array.isArray(value['streams'])) return false;
  return value['streams'].every((s: unknown) => isRecord(s) && isStreamId(s['id']) && s['id'] > 0 && isCount(s['received']) && isCount(s['consumed']) && s['consumed'] <= s['received']);
}
