// @ts-check
/*
 * Example JS framing plugin: `netstring`, for peers that speak netstrings, `<length>:<bytes>,`
 * (https://cr.yp.to/proto/netstrings.txt). Each netstring, whole, becomes one message: text
 * when its payload is valid UTF-8, binary otherwise. A stream that is not netstrings closes the
 * connection with 1011 (the function returns -1).
 *
 * A framing plugin is an ES module named framing_<anything>.mjs in the plugin folder whose default
 * export is a framing definition (or an array of them); websocksy loads it at start-up. Use it
 * with `-c framing=netstring`, or as the framing column of a file-backend line.
 * The types come from websocksy's plugin API (src/core/api.ts); `make` type-checks this file.
 */
import { isUtf8 } from 'node:buffer';

// WsOperation.text and .binary (websocksy.h: ws_frame_text, ws_frame_binary). Plain numbers keep
// the plugin free of run-time imports, so it works from any folder.
const TEXT = 1;
const BINARY = 2;
const COLON = 0x3a;
const COMMA = 0x2c;
/** Longer length fields are refused rather than waited for: 999 999 999 bytes is plenty. */
const MAX_DIGITS = 9;

/** @type {import('websocksy').FramingFunction} */
function frame(data, _lastRead, ctx) {
  // No per-connection state: each call reads the length again, so the release call has no work.
  if (data === null) return 0;
  let length = 0;
  let colon = 0;
  for (; colon < data.length && data[colon] !== COLON; colon++) {
    const digit = (data[colon] ?? 0) - 0x30;
    if (digit < 0 || digit > 9 || colon === MAX_DIGITS) return -1;
    length = length * 10 + digit;
  }
  if (colon === data.length) return 0; // the length is not complete yet
  if (colon === 0) return -1; // ":" without a length
  const comma = colon + 1 + length;
  if (data.length <= comma) return 0;
  if (data[comma] !== COMMA) return -1;
  ctx.opcode = isUtf8(data.subarray(colon + 1, comma)) ? TEXT : BINARY;
  return comma + 1;
}

/** @type {import('websocksy').FramingModule} */
export default {
  name: 'netstring',
  frame,
  checkConfig(config) {
    if (config !== null) throw new Error(`netstring takes no framing-config, but got ${JSON.stringify(config)}`);
  },
};
