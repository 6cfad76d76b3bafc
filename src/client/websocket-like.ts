/*
 * The part of the WebSocket API the session uses, as a structural type: both the platform's
 * WebSocket (browsers, Node 22+) and the `ws` package's class (Node 20, which has none) fit it,
 * and the library needs neither's type declarations.
 */

export interface WebSocketMessageLike {
  readonly data: unknown;
}

export interface WebSocketCloseLike {
  readonly code: number;
  readonly reason: string;
}

export interface WebSocketLike {
  binaryType: string;
  readonly protocol: string;
  send(data: Uint8Array<ArrayBuffer>): void;
  close(code?: number, reason?: string): void;
  addEventListener(type: 'message', listener: (event: WebSocketMessageLike) => void): void;
  addEventListener(type: 'close', listener: (event: WebSocketCloseLike) => void): void;
  addEventListener(type: 'open' | 'error', listener: () => void): void;
}

export type WebSocketConstructor = new (url: string, protocols: string[]) => WebSocketLike;

/** The bytes of a binary message as `binaryType = 'arraybuffer'` delivers them (or a view). */
export function messageBytes(data: unknown): Uint8Array | undefined {
  if (data instanceof ArrayBuffer) return new Uint8Array(data);
  if (ArrayBuffer.isView(data)) return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  return undefined;
}
