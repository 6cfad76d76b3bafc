/* Conversions between node's representations and uWS's (ArrayBuffer in, latin1/UTF-8 text). */

/** Node hands header values and the URL over as latin1 text, one character per byte; uWS decodes them as UTF-8. */
export function utf8FromLatin1(text: string): string {
  return /[^\x00-\x7f]/.test(text) ? Buffer.from(text, 'latin1').toString('utf8') : text;
}

/** An ArrayBuffer holding exactly `bytes`: the buffer itself when it is whole, else a copy. */
export function exactArrayBuffer(bytes: Uint8Array): ArrayBuffer {
  const { buffer, byteOffset, byteLength } = bytes;
  if (byteOffset === 0 && byteLength === buffer.byteLength && buffer instanceof ArrayBuffer) return buffer;
  const copy = new ArrayBuffer(byteLength);
  new Uint8Array(copy).set(bytes);
  return copy;
}

/** What uWS accepts where it wants bytes or text (its RecognizedString). */
export type Bytes = string | ArrayBuffer | ArrayBufferView;

/** `value` as a Buffer; text as UTF-8. Shares memory with `value` (no copy). */
export function bufferOf(value: Bytes): Buffer {
  if (typeof value === 'string') return Buffer.from(value, 'utf8');
  if (value instanceof ArrayBuffer) return Buffer.from(value);
  return Buffer.from(value.buffer, value.byteOffset, value.byteLength);
}

/** `value` as text: a header name or value given as bytes is read as latin1, one character per byte, as it goes on the wire. */
export function textOf(value: Bytes): string {
  return typeof value === 'string' ? value : bufferOf(value).toString('latin1');
}

/** An address as uWS gives it: its text in an ArrayBuffer. */
export function addressBuffer(address: string | undefined): ArrayBuffer {
  return exactArrayBuffer(Buffer.from(address ?? '', 'latin1'));
}

export const EMPTY = new ArrayBuffer(0);
